// Headless Chromium for bench/glass.py. Usage: node bench/glass_page/run.mjs '<json options>' with
//   baseUrl, hlsUrl (absolute), chromium (executable), userDataDir (fresh), clientsDir (clients/js: its
//   node_modules give playwright-core, its talkstream.js is the client under test), seconds (after the first
//   stamped frame), layout (the stamp layout, passed to the page), hlsConfig (overrides of attachPlayer's hls.js
//   settings; {} = exactly the client's), timeoutMs (for the first frame)
// Serves page.html + page.js (and the client module) on the server's own origin through request routing, removed
// again before playback so no HLS request is intercepted; plays the stream for `seconds`, then prints one JSON
// line: the page's measurements ({"ok": false, "error": ...} and exit 1 on failure).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const options = JSON.parse(process.argv[2]);
const require = createRequire(path.join(options.clientsDir, 'package.json'));
const { chromium } = require('playwright-core');

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PREFIX = '/__glass__/';
const FILES = {
  'page.html': [path.join(HERE, 'page.html'), 'text/html; charset=utf-8'],
  'page.js': [path.join(HERE, 'page.js'), 'text/javascript; charset=utf-8'],
  'talkstream.js': [path.join(options.clientsDir, 'talkstream.js'), 'text/javascript; charset=utf-8'],
};
// shared/docs/HLS.md: what headless Chromium needs as root on this closed network.
const FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required',
];

const pageErrors = [];
const context = await chromium.launchPersistentContext(options.userDataDir, {
  executablePath: options.chromium,
  headless: true,
  args: FLAGS,
  viewport: { width: 800, height: 700 },
});
let exitCode = 0;
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  await page.route((url) => url.pathname.startsWith(PREFIX), (route) => {
    const file = FILES[new URL(route.request().url()).pathname.slice(PREFIX.length)];
    return file ? route.fulfill({ path: file[0], contentType: file[1] }) : route.fulfill({ status: 404 });
  });
  await page.goto(`${options.baseUrl}${PREFIX}page.html`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.glass !== undefined, null, { timeout: 20000 });
  await page.unrouteAll(); // no interception of the stream's requests
  await page.evaluate((o) => window.glass.start(o), { hlsUrl: options.hlsUrl, layout: options.layout,
    hlsConfig: options.hlsConfig ?? {} });
  await page.waitForFunction(() => window.glass.firstFrameAt !== null || window.glass.errors.length > 0, null,
    { timeout: options.timeoutMs ?? 60000, polling: 100 });
  await new Promise((resolve) => setTimeout(resolve, options.seconds * 1000));
  const result = await page.evaluate(() => window.glass.result());
  console.log(JSON.stringify({ ok: true, ...result, pageErrors }));
} catch (error) {
  exitCode = 1;
  console.log(JSON.stringify({ ok: false, error: String(error?.message ?? error), pageErrors }));
} finally {
  await context.close();
}
process.exit(exitCode);
