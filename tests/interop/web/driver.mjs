// Headless Chromium under playwright-core, controlled over stdin/stdout with JSON lines.
//
//   node driver.mjs USER_DATA_DIR
//
// Requests (one JSON object a line on stdin), each answered on stdout by a line
// {"id": ID, "ok": true, "value": ...} or {"id": ID, "ok": false, "error": "..."}:
//   {"id": 1, "op": "open", "page": "alice", "url": "http://127.0.0.1:PORT/pages/jssip.html"}
//   {"id": 2, "op": "eval", "page": "alice", "expr": "phone.register({...})"}
//        (the expression may give a promise; its settled value is sent back)
//   {"id": 3, "op": "close"}   closes the browser, answers, then exits
// Requests run concurrently: a long wait on one page does not hold up the others.
// The first line written is {"ready": true, "version": "..."} once the browser is up.
// Page console messages and errors go to stderr, prefixed with the page name.
// The browser binary is Debian's /usr/bin/chromium (CHROMIUM overrides it); nothing is
// downloaded.

import { chromium } from 'playwright-core';
import readline from 'node:readline';

const userDataDir = process.argv[2];
if (!userDataDir) {
  process.stderr.write('usage: node driver.mjs USER_DATA_DIR\n');
  process.exit(2);
}

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--ignore-certificate-errors',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--autoplay-policy=no-user-gesture-required',
];

const started = Date.now();
const log = (text) => process.stderr.write(`${((Date.now() - started) / 1000).toFixed(3)}s driver ${text}\n`);
const send = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ARGS,
  ignoreHTTPSErrors: true,
});
const pages = new Map();
log(`browser ${context.browser()?.version() ?? ''} up`);
send({ ready: true, version: context.browser()?.version() ?? null });

async function handle(req) {
  if (req.op === 'open') {
    const page = await context.newPage();
    page.on('console', (msg) => log(`[${req.page}] ${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (err) => log(`[${req.page}] pageerror: ${err.message}`));
    await page.goto(req.url);
    pages.set(req.page, page);
    return true;
  }
  if (req.op === 'eval') {
    const page = pages.get(req.page);
    if (!page) throw new Error(`no page ${req.page}`);
    return await page.evaluate(req.expr);
  }
  if (req.op === 'close') {
    await context.close();
    return true;
  }
  throw new Error(`unknown op ${req.op}`);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let req;
  try {
    req = JSON.parse(line);
  } catch (err) {
    log(`bad request line: ${line}`);
    return;
  }
  handle(req).then(
    (value) => {
      send({ id: req.id, ok: true, value: value === undefined ? null : value });
      if (req.op === 'close') process.exit(0);
    },
    (err) => send({ id: req.id, ok: false, error: String(err && err.stack ? err.stack : err) }),
  );
});
rl.on('close', async () => {
  await context.close().catch(() => {});
  process.exit(0);
});
