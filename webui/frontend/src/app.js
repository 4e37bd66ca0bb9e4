// The terminal page: xterm.js on a WebSocket to a shell in the workspace.
// Protocol (see webui/doc.go): binary messages are terminal bytes both ways; text messages
// are JSON control messages (resize from here; exit and error from the server).
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';

const CHUNK = 32 * 1024; // the server reads messages of at most 64 KiB; big pastes are split

const el = document.getElementById('terminal');
if (el) start(el);

function start(el) {
  const status = document.getElementById('status');
  const banner = document.getElementById('banner');
  const bannerText = document.getElementById('banner-text');
  const reconnectBtn = document.getElementById('reconnect');
  const copyBtn = document.getElementById('copy');
  const pasteBtn = document.getElementById('paste');

  const term = new Terminal({
    cursorBlink: true,
    fontFamily: '"DejaVu Sans Mono", "Cascadia Mono", Menlo, Consolas, "Liberation Mono", monospace',
    fontSize: window.matchMedia('(max-width: 600px)').matches ? 12 : 14,
    scrollback: 5000,
    theme: {
      background: '#0d1117', foreground: '#e6edf3', cursor: '#e6edf3',
      selectionBackground: '#3b5070',
      black: '#484f58', red: '#ff7b72', green: '#3fb950', yellow: '#d29922',
      blue: '#58a6ff', magenta: '#bc8cff', cyan: '#39c5cf', white: '#b1bac4',
      brightBlack: '#6e7681', brightRed: '#ffa198', brightGreen: '#56d364', brightYellow: '#e3b341',
      brightBlue: '#79c0ff', brightMagenta: '#d2a8ff', brightCyan: '#56d4dd', brightWhite: '#ffffff',
    },
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  // The hidden textarea is what holds keyboard focus; give it a name screen readers announce.
  const input = el.querySelector('textarea');
  if (input) input.setAttribute('aria-label', `Terminal in workspace ${el.dataset.name}`);
  fit.fit();
  // The skip link targets the terminal's container; pass its focus on to the input.
  el.addEventListener('focus', () => term.focus());

  const enc = new TextEncoder();
  let ws = null;

  const send = (data) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(data); };
  const sendBytes = (b) => { for (let i = 0; i < b.length; i += CHUNK) send(b.subarray(i, i + CHUNK)); };
  term.onData((s) => sendBytes(enc.encode(s)));
  term.onBinary((s) => sendBytes(Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff)));
  term.onResize(({ cols, rows }) => send(JSON.stringify({ type: 'resize', cols, rows })));

  let pending = 0;
  const refit = () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => { try { fit.fit(); } catch { /* hidden */ } });
  };
  new ResizeObserver(refit).observe(el);
  window.addEventListener('resize', refit);

  const setState = (text, state) => {
    status.textContent = text;
    status.dataset.state = state;
    document.body.dataset.termState = state;
  };

  const copy = async () => {
    const text = term.getSelection();
    if (!text) { setState('Nothing selected to copy', document.body.dataset.termState); return; }
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Without the async clipboard (plain http), fall back to a selection the browser copies.
      const ta = document.createElement('textarea');
      ta.value = text;
      document.body.append(ta);
      ta.select();
      document.execCommand('copy');
      ta.remove();
    }
    term.focus();
  };
  const paste = async () => {
    try {
      term.paste(await navigator.clipboard.readText());
    } catch {
      status.textContent = 'Paste with Ctrl+Shift+V or the browser menu';
    }
    term.focus();
  };
  copyBtn.addEventListener('click', copy);
  pasteBtn.addEventListener('click', paste);

  term.attachCustomKeyEventHandler((e) => {
    if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey) return true;
    switch (e.code) {
      case 'KeyC': // copy, as in desktop terminals; plain Ctrl+C stays an interrupt
        e.preventDefault();
        copy();
        return false;
      case 'KeyV': // let the browser fire its paste event, which xterm handles
        return false;
      case 'KeyE': // the terminal keeps Tab, so give keyboard users a way out
        e.preventDefault();
        copyBtn.focus();
        return false;
    }
    return true;
  });

  function ended(text) {
    setState('Disconnected', 'ended');
    term.options.cursorBlink = false;
    bannerText.textContent = text;
    banner.hidden = false;
    reconnectBtn.focus();
  }

  function connect() {
    banner.hidden = true;
    term.options.cursorBlink = true;
    setState('Connecting…', 'connecting');
    const u = new URL(el.dataset.socket, location.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    u.searchParams.set('cols', term.cols);
    u.searchParams.set('rows', term.rows);
    const sock = new WebSocket(u);
    sock.binaryType = 'arraybuffer';
    ws = sock;
    let final = null; // what the server said before closing
    sock.onopen = () => {
      setState('Connected', 'connected');
      term.focus();
    };
    sock.onmessage = (ev) => {
      if (typeof ev.data !== 'string') {
        term.write(new Uint8Array(ev.data));
        return;
      }
      const m = JSON.parse(ev.data);
      if (m.type === 'exit') final = `The shell ended with exit status ${m.code}.`;
      else if (m.type === 'error') final = m.message;
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      ended(final ?? (navigator.onLine === false
        ? 'You are offline: the connection to the workspace dropped.'
        : 'The connection to the workspace was lost.'));
    };
  }

  reconnectBtn.addEventListener('click', () => {
    term.write('\r\n\x1b[2m--- reconnecting: a new shell ---\x1b[0m\r\n');
    connect();
  });

  // For tests and debugging: the terminal and its screen as text.
  window.wsTerminal = {
    term,
    screen() {
      const b = term.buffer.active;
      const lines = [];
      for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));
      return lines.join('\n');
    },
  };

  connect();
}
