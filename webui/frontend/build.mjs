// Builds the web terminal's assets into a directory (default ../dist) with esbuild, or with
// --check, builds them in memory and fails when that directory differs (stale assets).
// The output depends only on src/ and the versions pinned in package-lock.json.
import * as esbuild from 'esbuild';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const check = args.includes('--check');
const outdir = path.resolve(args.find((a) => !a.startsWith('--')) ?? path.join(here, '../dist'));

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: ['src/app.js', 'src/app.css'],
  entryNames: '[name]',
  outdir,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  charset: 'utf8',
  legalComments: 'none', // the licences go in THIRD_PARTY_NOTICES.txt instead
  write: false,
  logLevel: 'warning',
});

const want = new Map();
for (const f of result.outputFiles) want.set(path.basename(f.path), Buffer.from(f.contents));
const notices = ['@xterm/xterm', '@xterm/addon-fit'].map((pkg) => {
  const dir = path.join(here, 'node_modules', pkg);
  const { version } = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  return `${pkg} ${version}\n\n${readFileSync(path.join(dir, 'LICENSE'), 'utf8').trim()}\n`;
});
want.set('THIRD_PARTY_NOTICES.txt', Buffer.from(
  'The web terminal bundles these packages (webui/frontend/package-lock.json).\n\n' + notices.join('\n---\n\n')));

const have = existsSync(outdir) ? readdirSync(outdir) : [];
if (check) {
  const problems = [];
  for (const [name, bytes] of want) {
    const p = path.join(outdir, name);
    if (!existsSync(p)) problems.push(`missing ${name}`);
    else if (!readFileSync(p).equals(bytes)) problems.push(`differs: ${name}`);
  }
  for (const name of have) if (!want.has(name)) problems.push(`extra: ${name}`);
  if (problems.length) {
    console.error(`${path.relative(process.cwd(), outdir)} is stale (${problems.join(', ')}): run make web and commit it`);
    process.exit(1);
  }
  console.log(`web-check: ${want.size} assets in ${path.relative(process.cwd(), outdir)} match webui/frontend`);
} else {
  mkdirSync(outdir, { recursive: true });
  for (const name of have) if (!want.has(name)) rmSync(path.join(outdir, name));
  for (const [name, bytes] of want) writeFileSync(path.join(outdir, name), bytes);
  console.log(`built ${[...want.keys()].join(', ')} into ${path.relative(process.cwd(), outdir)}`);
}
