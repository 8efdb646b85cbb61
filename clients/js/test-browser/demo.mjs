// End-to-end check of the demo page in real Chromium, driven by tests/clients/test_browser.py (not collected by
// `node --test`). Usage: node test-browser/demo.mjs '<json options>' with
//   baseUrl, chromium (executable), userDataDir (fresh), face (image path, or null for the server's default),
//   wav (audio path), screenshot (png path), mode ("live" or "event")
// It opens the page, starts a session with the face, sends the WAV through the page's file input (decoded in the
// page, fed by the JS client), waits for playback, checks the picture and the audio, tries the (fake) microphone
// (live) or waits for the end of the stream (event), ends the session, and prints one JSON line of measurements.
// Exit 1 with {"ok": false, ...} on failure.
import { chromium } from 'playwright-core';

const options = JSON.parse(process.argv[2]);
const timeoutMs = options.timeoutMs ?? 120000;
const event = options.mode === 'event';

// HLS.md: the flags headless Chromium needs as root on this closed network; fake media devices for the mic.
const FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
];

const pageErrors = [];
const consoleErrors = [];
const steps = [];

async function step(name, action) {
  steps.push(name);
  return action();
}

async function run(page) {
  const result = {};
  await step('open the page', async () => {
    await page.goto(`${options.baseUrl}/`, { waitUntil: 'load' });
    await page.waitForFunction(() => window.talkstreamDemo !== undefined, null, { timeout: 20000 });
  });
  await step('choose the face and options', async () => {
    if (options.face) {
      await page.setInputFiles('#face-file', options.face);
      await page.waitForFunction(() => document.querySelector('#face-upload-radio').checked);
    }
    await page.check('#muted'); // muted video may autoplay
    await page.selectOption('#chunk-duration', '0.5');
    await page.selectOption('#mode', event ? 'event' : 'live');
  });
  await step('start the session', async () => {
    await page.click('#start');
    await page.waitForFunction(() => window.talkstreamDemo.session || window.talkstreamDemo.errors.length,
      null, { timeout: 60000 });
    await failOnPageErrors(page);
    Object.assign(result, await page.evaluate(() => ({ sessionId: window.talkstreamDemo.session.id,
      face: window.talkstreamDemo.face })));
  });
  await step('send the audio file', () => page.setInputFiles('#audio-file', options.wav));
  await step('wait for playback', async () => {
    await page.waitForFunction(() => {
      const video = document.querySelector('video');
      return (video.currentTime > 0 && !video.paused && video.readyState >= 3) || window.talkstreamDemo.errors.length;
    }, null, { timeout: timeoutMs, polling: 100 });
    await failOnPageErrors(page);
    result.startTime = await page.evaluate(() => document.querySelector('video').currentTime);
  });
  await step('wait for the video to advance 2 s', async () => {
    await page.waitForFunction((start) => document.querySelector('video').currentTime > start + 2.0,
      result.startTime, { timeout: timeoutMs, polling: 100 });
    result.endTime = await page.evaluate(() => document.querySelector('video').currentTime);
  });
  await step('wait for speech frames and decoded audio', async () => {
    await page.waitForFunction(() => (window.talkstreamDemo.status?.speech_frames ?? 0) >= 25
      && document.querySelector('video').webkitAudioDecodedByteCount > 0, null, { timeout: timeoutMs });
  });
  await step('check the picture', async () => {
    Object.assign(result, await page.evaluate(() => {
      const video = document.querySelector('video');
      const canvas = document.createElement('canvas');
      canvas.width = 64;
      canvas.height = 64;
      const context = canvas.getContext('2d');
      context.drawImage(video, 0, 0, 64, 64);
      const { data } = context.getImageData(0, 0, 64, 64);
      let sum = 0;
      let sumSq = 0;
      for (let i = 0; i < data.length; i += 4) {
        const luma = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
        sum += luma;
        sumSq += luma * luma;
      }
      const n = data.length / 4;
      const mean = sum / n;
      return { lumaMean: mean, lumaVariance: sumSq / n - mean * mean, videoWidth: video.videoWidth,
        videoHeight: video.videoHeight };
    }));
  });
  await step('screenshot', () => page.screenshot({ path: options.screenshot, fullPage: true }));
  await step('collect the player state', async () => {
    Object.assign(result, await page.evaluate(() => {
      const demo = window.talkstreamDemo;
      const video = document.querySelector('video');
      const level = demo.player?.hls?.levels?.[0];
      return {
        usedHlsJs: Boolean(demo.player?.hls),
        native: demo.player?.native ?? null,
        codecs: demo.codecs,
        levelAudioCodec: level?.audioCodec ?? null,
        audioDecodedBytes: video.webkitAudioDecodedByteCount,
        videoDecodedBytes: video.webkitVideoDecodedByteCount,
        muted: video.muted,
        playerLatency: demo.player?.latency() ?? null,
        fatalErrors: demo.fatalErrors,
        status: demo.status,
        fedSeconds: demo.fedSeconds,
        statusText: document.querySelector('#status').innerText,
      };
    }));
  });
  if (event) {
    await step('wait for the end of the stream', async () => {
      await page.waitForFunction(() => window.talkstreamDemo.status?.status === 'complete', null, { timeout: timeoutMs });
      result.finalStatus = await page.evaluate(() => window.talkstreamDemo.status);
    });
  } else {
    await step('microphone', () => microphone(page, result));
  }
  await step('end the session', async () => {
    await page.click('#end');
    await page.waitForFunction(() => document.body.dataset.state === 'setup' && !window.talkstreamDemo.session,
      null, { timeout: 20000 });
    result.errors = await page.evaluate(() => window.talkstreamDemo.errors);
  });
  return result;
}

async function microphone(page, result) {
  await page.click('#mic');
  await page.waitForFunction(() => window.talkstreamDemo.micChunks >= 3 || window.talkstreamDemo.errors.length,
    null, { timeout: 30000 });
  await failOnPageErrors(page);
  await page.click('#mic');
  await page.waitForFunction(() => !window.talkstreamDemo.mic
    && document.querySelector('#mic').textContent === 'Start microphone', null, { timeout: 20000 });
  result.micChunks = await page.evaluate(() => window.talkstreamDemo.micChunks);
}

async function failOnPageErrors(page) {
  const errors = await page.evaluate(() => window.talkstreamDemo.errors);
  if (errors.length) throw new Error(`the page shows an error: ${JSON.stringify(errors)}`);
}

const context = await chromium.launchPersistentContext(options.userDataDir, {
  executablePath: options.chromium,
  headless: true,
  args: FLAGS,
  viewport: { width: 1200, height: 860 },
});
let exitCode = 0;
try {
  await context.grantPermissions(['microphone'], { origin: options.baseUrl });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  try {
    const result = await run(page);
    console.log(JSON.stringify({ ok: true, ...result, pageErrors, consoleErrors, steps }));
  } catch (error) {
    exitCode = 1;
    const demo = await page.evaluate(() => window.talkstreamDemo && {
      errors: window.talkstreamDemo.errors, fatalErrors: window.talkstreamDemo.fatalErrors,
      status: window.talkstreamDemo.status, log: document.querySelector('#log')?.innerText,
      currentTime: document.querySelector('video')?.currentTime,
    }).catch(() => null);
    await page.screenshot({ path: options.screenshot }).catch(() => undefined);
    console.log(JSON.stringify({ ok: false, failedStep: steps.at(-1), error: String(error?.message ?? error), demo,
      pageErrors, consoleErrors }));
  }
} finally {
  await context.close();
}
process.exit(exitCode);
