// Glass-to-glass measurement in the page (driven by run.mjs for bench/glass.py): play the session's live HLS with
// our own client's attachPlayer (so exactly the hls.js settings our users get), and on every presented frame
// (requestVideoFrameCallback) draw the video into a canvas, read back the wall clock the server burned into its top
// rows (app/hls/stamp.py; readStamp below mirrors read_stamp there) and record Date.now() - stamp.
// Served by the bench on the server's own origin: ./talkstream.js is clients/js/talkstream.js itself, hls.js the
// copy the server vendors.
import Hls from '/static/vendor/hls.js/hls.min.mjs';
import { LIVE_HLS_CONFIG, attachPlayer } from './talkstream.js';

const glass = {
  // per presented frame: [wall ms at the callback, Date.now() - stamp, expectedDisplayTime - stamp (ms),
  //   hls.js latency (s behind its estimated live edge), playbackRate]
  samples: [],
  unreadable: 0, // presented frames without an intact stamp
  waiting: [], // wall ms of every 'waiting' event (a stall)
  errors: [],
  firstFrameAt: null,
  player: null,
  hlsConfig: {},
  start,
  result,
};
window.glass = glass;

/** Start playing `hlsUrl`; `layout` is the stamp layout of app/hls/stamp.py (see bench/glass.py); `hlsConfig`
 * overrides attachPlayer's live settings (empty by default: exactly what our client uses). */
function start({ hlsUrl, layout, hlsConfig = {} }) {
  const video = document.getElementById('video');
  const canvas = document.createElement('canvas');
  const context = canvas.getContext('2d', { willReadFrequently: true });
  video.addEventListener('waiting', () => glass.waiting.push(Date.now()));
  glass.hlsConfig = hlsConfig;
  glass.player = attachPlayer(video, hlsUrl, { Hls, hlsConfig, onError: (error) => glass.errors.push(error.message) });
  const onFrame = (_now, metadata) => {
    const wall = Date.now();
    const ms = readStamp(video, canvas, context, layout);
    if (ms === null) {
      glass.unreadable += 1;
    } else {
      glass.firstFrameAt ??= wall;
      const displayed = performance.timeOrigin + metadata.expectedDisplayTime;
      glass.samples.push([wall, wall - ms, displayed - ms, glass.player.latency(), video.playbackRate]);
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

/** Everything measured so far, with the hls.js settings actually in force. */
function result() {
  const { hls } = glass.player;
  const video = document.getElementById('video');
  const keys = new Set([...Object.keys(LIVE_HLS_CONFIG), ...Object.keys(glass.hlsConfig)]);
  const settings = Object.fromEntries([...keys].map((key) => [key, hls.config[key]]));
  const quality = video.getVideoPlaybackQuality();
  return {
    samples: glass.samples,
    unreadable: glass.unreadable,
    waiting: glass.waiting,
    errors: glass.errors,
    firstFrameAt: glass.firstFrameAt,
    hlsVersion: Hls.version,
    settings,
    targetLatency: hls.targetLatency,
    targetDuration: hls.levels?.[hls.currentLevel]?.details?.targetduration ?? null,
    videoSize: [video.videoWidth, video.videoHeight],
    droppedFrames: quality.droppedVideoFrames,
    totalFrames: quality.totalVideoFrames,
  };
}

/** The ms stamped into the current frame, or null (mirror of read_stamp in app/hls/stamp.py). */
function readStamp(video, canvas, context, { cell, cells, start, end, dataBits, checkBits, dark, light }) {
  const width = video.videoWidth;
  const cols = Math.min(cells, Math.floor(width / cell));
  const rows = Math.ceil(cells / cols);
  if (cols < 1 || video.videoHeight < rows * cell) return null;
  if (canvas.width !== width || canvas.height !== rows * cell) {
    canvas.width = width;
    canvas.height = rows * cell;
  }
  context.drawImage(video, 0, 0, width, video.videoHeight); // the canvas keeps only the top rows
  const { data } = context.getImageData(0, 0, cols * cell, rows * cell);
  const q = cell / 4; // the centre half of each cell
  const bits = [];
  for (let i = 0; i < cells; i++) {
    const x0 = (i % cols) * cell + q;
    const y0 = Math.floor(i / cols) * cell + q;
    let sum = 0;
    for (let y = y0; y < y0 + cell - 2 * q; y++) {
      for (let x = x0; x < x0 + cell - 2 * q; x++) {
        const p = 4 * (y * cols * cell + x);
        sum += 0.299 * data[p] + 0.587 * data[p + 1] + 0.114 * data[p + 2];
      }
    }
    const mean = sum / (cell - 2 * q) ** 2;
    if (mean >= dark && mean <= light) return null; // neither clearly black nor clearly white
    bits.push(mean > 127 ? 1 : 0);
  }
  if (start.some((b, i) => bits[i] !== b) || end.some((b, i) => bits[cells - end.length + i] !== b)) return null;
  const payload = bits.slice(start.length, start.length + dataBits);
  const check = value(bits.slice(start.length + dataBits, start.length + dataBits + checkBits));
  const bytes = [];
  for (let i = 0; i < dataBits; i += 8) bytes.push(value(payload.slice(i, i + 8)));
  return crc8(bytes) === check ? value(payload) : null;
}

function value(bits) {
  return bits.reduce((acc, bit) => acc * 2 + bit, 0); // exact up to 53 bits (no 32-bit bit operations)
}

function crc8(bytes) {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}
