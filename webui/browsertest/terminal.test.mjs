// Browser test of the web terminal and of the gateway's trust boundary: Debian's chromium,
// driven by playwright-core, against the real thing: internal/e2e/browserserver runs a real
// gateway (with a fake GitLab that checks tokens) and real agents ('ws agent') for alice's
// workspace demo and bob's workspace evil, whose endpoint serves an attacker's page. Run
// through run.sh (make test-browser).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const out = process.env.WS_OUT;
const serverBin = process.env.WS_SERVER;
const wsBin = process.env.WS_BIN;
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
assert.ok(out && serverBin && wsBin, 'run through run.sh: WS_OUT, WS_SERVER and WS_BIN must be set');

let server, base, direct, control, token, badToken, bobToken, aliceEndpoint, bobEndpoint, evil;
let context, page, profile, firstLink;
const terminalPath = '/terminal/group/app/-/demo';

// ctl stops or starts the workspace: the server answers once the gateway agrees.
async function ctl(what) {
  const resp = await fetch(control + what, { method: 'POST' });
  assert.equal(resp.status, 200, `control ${what}: ${await resp.text()}`);
}

// mintLink asks the gateway for a sign-in link as 'ws open demo' does: POST /api/v1/links
// with alice's GitLab token.
async function mintLink() {
  const resp = await fetch(direct + '/api/v1/links', {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ project: 'group/app', name: 'demo' }),
  });
  assert.equal(resp.status, 200, `POST /api/v1/links: ${await resp.clone().text()}`);
  return (await resp.json()).url;
}

const screen = () => page.evaluate(() => window.wsTerminal.screen());
const termSize = () => page.evaluate(() => ({ cols: window.wsTerminal.term.cols, rows: window.wsTerminal.term.rows }));

// waitForLine waits until a terminal line matches re and returns the match.
async function waitForLine(re, timeout = 10000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const m = (await screen()).split('\n').map((l) => l.match(re)).find(Boolean);
    if (m) return m;
    if (Date.now() > deadline) assert.fail(`no terminal line matches ${re}; screen:\n${await screen()}`);
    await page.waitForTimeout(50);
  }
}

// run types a command into the shell, as a user would.
async function run(cmd) {
  await page.locator('#terminal').click();
  await page.keyboard.type(cmd);
  await page.keyboard.press('Enter');
}

async function ptySize(tag) {
  await run(`echo ${tag}:$(stty size)`);
  const m = await waitForLine(new RegExp(`^${tag}:(\\d+) (\\d+)\\s*$`));
  return { rows: Number(m[1]), cols: Number(m[2]) };
}

const shot = (name) => page.screenshot({ path: path.join(out, name) });

before(async () => {
  server = spawn(serverBin, ['-ws', wsBin], { stdio: ['pipe', 'pipe', 'pipe'] });
  server.stderr.pipe(createWriteStream(path.join(out, 'server.log')));
  const first = await new Promise((resolve, reject) => {
    createInterface({ input: server.stdout }).once('line', resolve);
    server.once('exit', (code) => reject(new Error(`browserserver exited ${code}; see ${out}/server.log`)));
  });
  ({ url: base, direct, control, token, badToken, bobToken, aliceEndpoint, bobEndpoint, evil } = JSON.parse(first));

  profile = mkdtempSync(path.join(tmpdir(), 'ws-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1100, height: 700 },
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  page = context.pages()[0] ?? await context.newPage();
});

after(async () => {
  await context?.close();
  if (server && server.exitCode === null) {
    // It stops (and stops the agent) when its stdin closes; SIGKILL if it hangs.
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.stdin.end();
    const timer = setTimeout(() => server.kill('SIGKILL'), 15000);
    await exited;
    clearTimeout(timer);
  }
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('a single-use link signs in and opens a connected terminal', async () => {
  firstLink = await mintLink();
  assert.match(firstLink, new RegExp(`^${base}/signin/link/[A-Za-z0-9_-]{43}$`));
  await page.goto(firstLink);
  assert.equal(new URL(page.url()).pathname, terminalPath);
  await page.waitForSelector('body[data-term-state=connected]');
  assert.match(await page.locator('.who').innerText(), /Signed in as Alice Liddell @alice/);
  // A login shell in the workspace: postStart wrote its profile before the agent said ready.
  await waitForLine(/^workspace demo: set up by postStart\s*$/);
});

test('typing runs a command and its output shows on the screen', async () => {
  await run('echo hello-from-browser');
  await waitForLine(/^hello-from-browser\s*$/);
  // Colours: the prompt is green and bold (SGR 1;32), so xterm renders a styled cell.
  const green = await page.evaluate(() => {
    const b = window.wsTerminal.term.buffer.active;
    for (let i = 0; i < b.length; i++) {
      const line = b.getLine(i);
      if (line.translateToString(true).startsWith('alice@demo:')) return line.getCell(0).getFgColor();
    }
    return 'no prompt';
  });
  assert.equal(green, 2, 'the prompt\'s first cell uses ANSI green');
  await shot('terminal.png');
});

test('resizing the window resizes the PTY', async () => {
  const before = await ptySize('S1');
  assert.deepEqual(before, await termSize(), 'PTY size matches the fitted terminal');
  await page.setViewportSize({ width: 700, height: 450 });
  await page.waitForFunction((c) => window.wsTerminal.term.cols !== c, before.cols);
  const afterResize = await ptySize('S2');
  assert.notDeepEqual(afterResize, before);
  assert.deepEqual(afterResize, await termSize());
  assert.ok(afterResize.cols < before.cols && afterResize.rows < before.rows, `${JSON.stringify(afterResize)} smaller than ${JSON.stringify(before)}`);
  // A phone-sized screen: the terminal still fills it and follows.
  await page.setViewportSize({ width: 390, height: 760 });
  await page.waitForFunction((c) => window.wsTerminal.term.cols !== c, afterResize.cols);
  const phone = await ptySize('S3');
  assert.deepEqual(phone, await termSize());
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false, 'no horizontal scrolling on a phone-sized screen');
  await shot('terminal-phone.png');
  await page.setViewportSize({ width: 1100, height: 700 });
});

test('copy and paste go through the clipboard', async () => {
  await run('echo copy-$((6*7))-me');
  const m = await waitForLine(/^copy-42-me\s*$/);
  await page.evaluate(() => {
    const t = window.wsTerminal.term;
    const b = t.buffer.active;
    for (let i = b.length - 1; i >= 0; i--) {
      if (b.getLine(i).translateToString(true) === 'copy-42-me') { t.selectLines(i, i); return; }
    }
  });
  await page.click('#copy');
  assert.equal((await page.evaluate(() => navigator.clipboard.readText())).trim(), m[0].trim());
  await page.evaluate(() => navigator.clipboard.writeText('echo pasted-$((7*6))'));
  await page.click('#paste');
  // Paste is async (clipboard read); focus returns to the terminal once it has pasted.
  await waitForLine(/echo pasted-\$\(\(7\*6\)\)\s*$/);
  await page.waitForFunction(() => document.activeElement?.classList.contains('xterm-helper-textarea'));
  await page.keyboard.press('Enter');
  await waitForLine(/^pasted-42\s*$/);
});

test('the workspace list shows status, age and endpoints, and is keyboard-usable', async () => {
  await page.goto(base + '/');
  const row = page.locator('tr', { hasText: 'group/app /' }).first();
  assert.match(await row.innerText(), /running/);
  assert.match(await row.innerText(), /\b(\d+s|\dm)\b/, 'age: the agent connected moments ago');
  assert.equal(await page.locator(`a[href="${aliceEndpoint}/"]`).count(), 1, 'endpoint URL');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to main content');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  await shot('list.png');
  await page.setViewportSize({ width: 390, height: 760 });
  await shot('list-phone.png');
  await page.setViewportSize({ width: 1100, height: 700 });
});

test('a reused link is refused with a clear page', async () => {
  const resp = await page.goto(firstLink);
  assert.equal(resp.status(), 410);
  assert.match(await page.locator('h1').innerText(), /already used/);
  await shot('link-reused.png');
});

test('a stopping workspace shows the message and a reconnect button', async () => {
  await page.goto(base + terminalPath);
  await page.waitForSelector('body[data-term-state=connected]');
  await ctl('/stop');
  await page.waitForSelector('body[data-term-state=ended]');
  assert.match(await page.locator('#banner-text').innerText(), /Workspace demo stopped/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'reconnect', 'focus moves to Reconnect');
  await shot('stopped.png');

  // Reconnecting while it is stopped says so; once it runs again, reconnecting gives a shell.
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /is not running/.test(document.getElementById('banner-text').textContent) &&
    !document.getElementById('banner').hidden);
  await ctl('/start');
  await page.click('#reconnect');
  await page.waitForSelector('body[data-term-state=connected]');
  await run('echo back-again');
  await waitForLine(/^back-again\s*$/);
});

test('the shell exiting shows its exit status', async () => {
  await run('exit 7');
  await page.waitForSelector('body[data-term-state=ended]');
  assert.match(await page.locator('#banner-text').innerText(), /exit status 7/);
});

test('keyboard: the skip link focuses the terminal and Ctrl+Shift+E leaves it', async () => {
  await page.goto(base + terminalPath);
  await page.waitForSelector('body[data-term-state=connected]');
  // The skip link is the page's first tab stop (checked on the list page); it shows on focus.
  await page.locator('.skip').focus();
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to the terminal');
  assert.ok((await page.locator('.skip').boundingBox()).y >= 0, 'the focused skip link is on screen');
  await page.keyboard.press('Enter');
  assert.ok(await page.evaluate(() => document.activeElement.classList.contains('xterm-helper-textarea')), 'terminal input has focus');
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Terminal in workspace demo');
  await page.keyboard.type('echo kb-ok');
  await page.keyboard.press('Enter');
  await waitForLine(/^kb-ok\s*$/);
  await page.keyboard.press('Control+Shift+E');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'copy');
});

test('sign out, then sign in with a token on the sign-in page', async () => {
  await page.goto(base + '/');
  await page.click('text=Sign out');
  assert.equal(new URL(page.url()).pathname, '/signin');
  await page.getByLabel('GitLab personal access token').fill(badToken);
  await page.click('button[type=submit]');
  assert.match(await page.locator('.problem').innerText(), /did not accept/);
  await page.getByLabel('GitLab personal access token').fill(token);
  await shot('signin.png');
  await page.keyboard.press('Enter');
  await page.waitForURL(base + '/');
  assert.match(await page.locator('.who').innerText(), /Alice Liddell/);
});

// Issue 10, finding 1: another site posts a sign-in form with bob's token (login CSRF) and
// sends the browser on to bob's workspace content on the gateway's own origin.
test('another site cannot sign the browser in as someone else', async () => {
  const bobPort = new URL(bobEndpoint).hostname.split('-')[0];
  for (const action of ['/api/v1/session', '/signin']) {
    const posted = page.waitForResponse((r) => r.url() === base + action && r.request().method() === 'POST');
    await page.goto(`${evil}/csrf.html?` + new URLSearchParams({ action: base + action, token: bobToken, next: `/w/43/evil/${bobPort}/` }));
    const resp = await posted;
    assert.ok(resp.status() >= 400, `cross-site sign-in form to ${action}: ${resp.status()}, want it refused`);
    assert.ok(!(await resp.allHeaders())['set-cookie']?.includes('session'), `${action} set a session cookie`);
  }
  await page.goto(base + '/');
  assert.match(await page.locator('.who').innerText(), /Alice Liddell @alice/, 'still signed in as alice');
  // Workspace content is never served on the gateway's origin (path URLs are off).
  const r = await page.goto(`${base}/w/43/evil/${bobPort}/attack.html`);
  assert.equal(r.status(), 404);
});

// Issue 10, finding 2 and the rest of finding 1: a page served by an endpoint (bob's, which
// alice may open as a maintainer of his project) runs in alice's browser, on a host that is
// same-site with the gateway, and tries her tunnel, her terminals and her own endpoint.
test("an endpoint's page cannot reach the user's other workspace", async () => {
  // Alice opens her own endpoint first: her browser then holds its cookie too.
  await page.goto(aliceEndpoint + '/');
  assert.equal(new URL(page.url()).origin, aliceEndpoint, 'signed in on the endpoint host through the hand-off');
  assert.equal(await page.locator('h1').innerText(), "alice's app");
  const hits = async () => Number(await (await fetch(control + '/hits')).text());
  const before = await hits();

  await page.goto(`${bobEndpoint}/attack.html?` + new URLSearchParams({ alice: aliceEndpoint, token: bobToken }));
  assert.equal(new URL(page.url()).origin, bobEndpoint);
  await page.waitForFunction(() => window.done === true, null, { timeout: 30000 });
  const results = await page.evaluate(() => window.results);
  await shot('attack-refused.png');
  assert.deepEqual(results, {
    'tunnel': 'refused',
    'tunnel by name': 'refused',
    'web terminal': 'refused',
    'terminal API': 'refused',
    "alice's endpoint": 'sent', // sent by the browser; the gateway refused it (below)
  });
  assert.equal(await hits(), before, "no POST of bob's page reached alice's application");

  // Alice is still alice on the gateway, and her terminal still works.
  await page.goto(base + terminalPath);
  await page.waitForSelector('body[data-term-state=connected]');
  assert.match(await page.locator('.who').innerText(), /Alice Liddell @alice/);
  await run('echo still-alice');
  await waitForLine(/^still-alice\s*$/);
});
