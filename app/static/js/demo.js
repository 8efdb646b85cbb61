// The demo page at `/`: pick a face, open a session, speak or stream an audio file, watch the avatar live.
// Everything comes from this server: hls.js and the client module are vendored copies (see ../vendor/README.md).
import Hls from '../vendor/hls.js/hls.min.mjs';
import { TalkstreamClient, TalkstreamError, attachPlayer, startMicrophone } from '../vendor/talkstream/talkstream.js';

const FEED_SECONDS = 0.25; // audio per request: shorter than the server's 0.3 s "end of utterance" pause
const FILE_LEAD_SECONDS = 0.75; // live mode: a file is fed this far ahead of real time so speech never runs dry
const DECODE_RATE = 24000; // files are decoded (and resampled) to this rate, mono
const EVENT_HLS_CONFIG = { startPosition: 0, liveMaxLatencyDuration: Infinity, maxLiveSyncPlaybackRate: 1 };

const $ = (id) => document.getElementById(id);

/** Page state, also inspected by the browser test (window.talkstreamDemo). */
const demo = {
  session: null,
  player: null,
  mic: null,
  file: null, // {name, fedSeconds, totalSeconds, cancelled, done}
  status: null,
  errors: [], // every error shown in the page
  fatalErrors: [], // fatal playback errors (hls.js)
  codecs: null, // {video, audio} codecs hls.js found in the stream
  fedSeconds: 0,
  micChunks: 0,
  pollTimer: null,
  uploadedFace: null,
  face: null, // {choice, name, bytes} of the image sent with /init
};
window.talkstreamDemo = demo;

// ------------------------------------------------------------------------------------------------ page state

function setState(state) {
  document.body.dataset.state = state;
  const live = state === 'live';
  $('start').disabled = state !== 'setup';
  $('start').textContent = state === 'starting' ? 'Starting…' : 'Start session';
  for (const id of ['mic', 'interrupt', 'end', 'audio-file']) $(id).disabled = !live;
  $('audio-file-label').setAttribute('aria-disabled', String(!live));
  for (const element of $('setup').elements) {
    if (element.id !== 'start') element.disabled = state !== 'setup';
  }
}

function log(text, level = 'info') {
  const item = document.createElement('li');
  item.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  if (level === 'warn') item.className = 'warn';
  $('log').prepend(item);
  while ($('log').children.length > 50) $('log').lastElementChild.remove();
}

function describe(error) {
  if (error instanceof TalkstreamError) {
    return error.status ? `${error.message} (HTTP ${error.status}, ${error.code})` : `${error.message} (${error.code})`;
  }
  if (error?.name === 'NotAllowedError') return 'permission denied (allow the microphone for this page)';
  if (error?.name === 'NotFoundError') return 'no microphone found';
  if (error?.name === 'EncodingError') return 'the browser cannot decode this audio format';
  return error?.message || String(error);
}

function showError(error, title) {
  const message = describe(error);
  demo.errors.push({ title, message });
  $('error-title').textContent = `${title}:`;
  $('error-message').textContent = message;
  $('error').hidden = false;
  log(`${title}: ${message}`, 'warn');
}

function hideError() {
  $('error').hidden = true;
}

// ------------------------------------------------------------------------------------------------ session

async function chosenFace(choice) {
  if (choice === 'default') return null;
  if (choice === 'upload') {
    if (!demo.uploadedFace) throw new Error('choose or drop a face image first, or pick another face');
    return demo.uploadedFace;
  }
  const response = await fetch(`static/faces/${choice}.jpg`);
  if (!response.ok) throw new Error(`the built-in face ${choice} is missing (HTTP ${response.status})`);
  return new File([await response.blob()], `${choice}.jpg`, { type: 'image/jpeg' });
}

async function startSession(event) {
  event.preventDefault();
  hideError();
  const choice = new FormData($('setup')).get('face') ?? 'default'; // before setState: disabled fields are not read
  setState('starting');
  try {
    const base = new URL('.', window.location.href).href; // the API lives where this page is (even behind a prefix)
    const client = new TalkstreamClient(base, { apiKey: $('api-key').value.trim() || null });
    const image = await chosenFace(choice);
    const session = await client.initSession({
      image,
      mode: $('mode').value,
      chunkDuration: Number($('chunk-duration').value),
      liveliness: Number($('liveliness').value),
      crop: $('crop').checked,
      seed: Number($('seed').value) || 0,
    });
    demo.session = session;
    demo.face = image ? { choice, name: image.name, bytes: image.size } : { choice, name: null, bytes: 0 };
    demo.fedSeconds = 0;
    demo.micChunks = 0;
    demo.reportedFailure = false;
    demo.codecs = null;
    $('st-tracks').textContent = '–';
    log(`session ${session.id} opened (${session.mode} mode, face: ${image ? image.name : 'server default'})`);
    setState('live');
    $('hint').textContent = session.mode === 'event'
      ? 'Event mode: send an audio file; the video appears once its first segment is written.'
      : 'Speak into the microphone or send an audio file (it streams at real-time pace). You can drop a file on the video.';
    poll(session);
  } catch (error) {
    showError(error, 'Could not start the session');
    setState('setup');
  }
}

async function endSession() {
  const session = demo.session;
  if (!session) return;
  setState('ending');
  await stopFeeding();
  teardown();
  try {
    await session.close();
    log(`session ${session.id} closed`);
  } catch (error) {
    if (error.status !== 404) showError(error, 'Could not close the session');
  }
  setState('setup');
}

async function interruptSession() {
  const session = demo.session;
  if (!session) return;
  if (demo.file) demo.file.cancelled = true; // barge-in: the rest of the file is not wanted either
  try {
    const answer = await session.interrupt();
    log(`interrupted: ${answer.dropped_seconds.toFixed(2)} s of queued speech dropped`);
  } catch (error) {
    showError(error, 'Interrupt failed');
  }
}

/** Stop the player and the polling; the session object is forgotten. */
function teardown() {
  clearTimeout(demo.pollTimer);
  demo.player?.destroy();
  demo.player = null;
  demo.session = null;
}

// ------------------------------------------------------------------------------------------------ status and player

async function poll(session) {
  if (session !== demo.session) return;
  try {
    const status = await session.getStatus();
    if (session !== demo.session) return;
    demo.status = status;
    renderStatus(status);
    if (!demo.player && status.segments_written > 0) attach(session);
    if (status.status === 'error' && !demo.reportedFailure) {
      demo.reportedFailure = true;
      showError(new Error(status.last_error || 'unknown error'), 'The session failed');
    }
  } catch (error) {
    if (error.status === 404) {
      showError(error, 'The session is gone (expired or closed)');
      await stopFeeding();
      teardown();
      setState('setup');
      return;
    }
    log(`status: ${describe(error)}`, 'warn');
  }
  demo.pollTimer = setTimeout(() => poll(session), demo.player ? 1000 : 250);
}

function attach(session) {
  const video = $('video');
  video.muted = $('muted').checked;
  video.controls = true;
  const hlsConfig = session.mode === 'event' ? EVENT_HLS_CONFIG : {};
  try {
    demo.player = attachPlayer(video, session.hlsUrl, { Hls, hlsConfig, onError: onPlayerError });
    demo.player.hls?.on(Hls.Events.BUFFER_CODECS, (_event, tracks) => showCodecs(tracks));
    log(`playing ${session.hlsUrl} with ${demo.player.native ? 'native HLS' : `hls.js ${Hls.version}`}`);
  } catch (error) {
    showError(error, 'Cannot play the video');
  }
}

/** hls.js's BUFFER_CODECS tracks: `audio`/`video`, or one `audiovideo` track for muxed fMP4 like ours. */
function showCodecs(tracks) {
  const codecs = Object.values(tracks).flatMap((track) => (track.codec ?? '').split(',')).map((c) => c.trim());
  demo.codecs = {
    video: codecs.find((c) => /^(avc|hvc|hev|av01|vp)/.test(c)) ?? null,
    audio: codecs.find((c) => /^(mp4a|opus|ac-3|ec-3|flac)/.test(c)) ?? null,
  };
  $('st-tracks').textContent = [demo.codecs.video, demo.codecs.audio].filter(Boolean).join(' + ') || '–';
}

function onPlayerError(error) {
  const video = $('video');
  if (error.code === 'play_failed') {
    if (!video.muted) {
      video.muted = true; // the autoplay policy allows muted playback: unmute with the video controls
      video.play().catch(() => undefined);
      log('autoplay with sound was blocked: playing muted, unmute with the video controls', 'warn');
    }
    return;
  }
  demo.fatalErrors.push({ code: error.code, message: error.message });
  showError(error, 'Playback error');
}

function seconds(value, digits = 2) {
  return value == null || Number.isNaN(value) ? '–' : `${value.toFixed(digits)} s`;
}

function milliseconds(value) {
  return value == null ? '–' : `${Math.round(value * 1000)} ms`;
}

function renderStatus(status) {
  $('st-session').textContent = status.session_id;
  $('st-state').textContent = status.status + (status.mode === 'event' ? ' (event)' : '');
  $('st-buffered').textContent = seconds(status.buffered_seconds);
  $('st-frames').textContent = `${status.speech_frames} / ${status.idle_frames}`;
  $('st-segments').textContent = String(status.segments_written);
  $('st-audio').textContent = seconds(status.audio_seconds_received, 1);
  const { count, p50, p95 } = status.latency ?? {};
  $('st-latency').textContent = count ? `${milliseconds(p50)} / ${milliseconds(p95)} (${count})` : '–';
  const behind = demo.player?.latency() ?? null;
  $('st-player').textContent = seconds(behind);
  $('st-total').textContent = count && behind != null ? seconds(p50 + behind) : '–';
  $('st-feeding').textContent = feedingText();
}

function feedingText() {
  const parts = [];
  if (demo.mic) parts.push(`microphone (${demo.mic.sampleRate} Hz)`);
  const file = demo.file;
  if (file && !file.done) parts.push(`${file.name}: ${file.fedSeconds.toFixed(1)} / ${file.totalSeconds.toFixed(1)} s`);
  return parts.join(', ') || 'nothing';
}

// ------------------------------------------------------------------------------------------------ audio input

async function toggleMicrophone() {
  const button = $('mic');
  if (demo.mic) {
    const mic = demo.mic;
    demo.mic = null;
    button.disabled = true;
    await mic.stop();
    button.classList.remove('recording');
    button.textContent = 'Start microphone';
    button.disabled = !demo.session;
    log('microphone stopped');
    return;
  }
  const session = demo.session;
  if (!navigator.mediaDevices?.getUserMedia) {
    showError(new Error('this page needs HTTPS (or localhost) to use the microphone'), 'Microphone unavailable');
    return;
  }
  button.disabled = true;
  try {
    demo.mic = await startMicrophone(session, {
      chunkSeconds: FEED_SECONDS,
      onChunk: ({ samples, sampleRate }) => {
        demo.micChunks++;
        demo.fedSeconds += samples.length / sampleRate;
      },
      onError: (error) => showError(error, 'Sending microphone audio failed'),
    });
    button.classList.add('recording');
    button.textContent = 'Stop microphone';
    log(`microphone on (${demo.mic.sampleRate} Hz)`);
  } catch (error) {
    showError(error, 'Could not start the microphone');
  } finally {
    button.disabled = !demo.session;
  }
}

/** Decode a file in the browser (any format it supports) to mono Float32 at DECODE_RATE. */
async function decodeAudio(file) {
  const context = new OfflineAudioContext(1, 1, DECODE_RATE);
  const buffer = await context.decodeAudioData(await file.arrayBuffer());
  const mono = new Float32Array(buffer.length);
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const channel = buffer.getChannelData(c);
    for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / buffer.numberOfChannels;
  }
  return { samples: mono, sampleRate: buffer.sampleRate };
}

const sleepUntil = (time) => new Promise((resolve) => setTimeout(resolve, Math.max(0, time - performance.now())));

async function sendFile(file) {
  const session = demo.session;
  if (!session) return;
  if (demo.file) demo.file.cancelled = true;
  const feed = { name: file.name, fedSeconds: 0, totalSeconds: 0, cancelled: false, done: false };
  demo.file = feed;
  let audio;
  try {
    audio = await decodeAudio(file);
  } catch (error) {
    feed.done = true;
    showError(error, `Could not decode ${file.name}`);
    return;
  }
  const { samples, sampleRate } = audio;
  feed.totalSeconds = samples.length / sampleRate;
  log(`sending ${file.name} (${feed.totalSeconds.toFixed(1)} s)`);
  const live = session.mode === 'live';
  const step = Math.round(FEED_SECONDS * sampleRate);
  const started = performance.now();
  const sent = [];
  for (let offset = 0, i = 0; offset < samples.length; offset += step, i++) {
    if (live) await sleepUntil(started + (i * FEED_SECONDS - FILE_LEAD_SECONDS) * 1000);
    if (feed.cancelled || session !== demo.session) break;
    const chunk = samples.subarray(offset, offset + step);
    const isFinal = !live && offset + step >= samples.length; // event mode: the file is the whole stream
    const fed = session.feedAudioChunk(chunk, { sampleRate, isFinal }).then(() => {
      feed.fedSeconds += chunk.length / sampleRate;
      demo.fedSeconds += chunk.length / sampleRate;
    });
    sent.push(fed);
    fed.catch((error) => {
      if (!feed.cancelled) showError(error, `Sending ${file.name} failed`);
      feed.cancelled = true;
    });
    if (!live) await fed.catch(() => undefined); // event mode: as fast as the server accepts (429s are retried)
  }
  await Promise.allSettled(sent);
  feed.done = true;
  if (!feed.cancelled) log(`${file.name} sent`);
}

async function stopFeeding() {
  if (demo.file) demo.file.cancelled = true;
  if (demo.mic) {
    const mic = demo.mic;
    demo.mic = null;
    await mic.stop().catch(() => undefined);
    $('mic').classList.remove('recording');
    $('mic').textContent = 'Start microphone';
  }
}

// ------------------------------------------------------------------------------------------------ face upload, drop

function useFaceImage(file) {
  if (!file.type.startsWith('image/')) {
    showError(new Error(`${file.name} is not an image`), 'Face image');
    return;
  }
  demo.uploadedFace = file;
  const thumb = document.createElement('img');
  thumb.className = 'thumb';
  thumb.alt = '';
  thumb.id = 'upload-thumb';
  thumb.src = URL.createObjectURL(file);
  $('upload-thumb').replaceWith(thumb);
  $('upload-name').textContent = file.name.length > 14 ? `${file.name.slice(0, 12)}…` : file.name;
  $('face-upload-radio').checked = true;
}

function onDrop(event) {
  event.preventDefault();
  $('drop-zone').classList.remove('dragging');
  const file = event.dataTransfer?.files?.[0];
  if (!file) return;
  if (file.type.startsWith('image/') && document.body.dataset.state === 'setup') useFaceImage(file);
  else if (demo.session) sendFile(file);
  else showError(new Error('start a session first, then drop an audio file'), 'Nothing to do with this file');
}

function closeOnExit() {
  const session = demo.session;
  if (!session) return;
  const headers = session.client.apiKey ? { Authorization: `Bearer ${session.client.apiKey}` } : {};
  const url = session.client.url(`/api/audio-driven/chunked/session/${encodeURIComponent(session.id)}`);
  fetch(url, { method: 'DELETE', keepalive: true, headers }).catch(() => undefined);
}

// ------------------------------------------------------------------------------------------------ wiring

$('setup').addEventListener('submit', startSession);
$('end').addEventListener('click', endSession);
$('interrupt').addEventListener('click', interruptSession);
$('mic').addEventListener('click', toggleMicrophone);
$('error-close').addEventListener('click', hideError);
$('audio-file').addEventListener('change', (event) => {
  const [file] = event.target.files;
  event.target.value = '';
  if (file) sendFile(file);
});
$('face-file').addEventListener('change', (event) => {
  const [file] = event.target.files;
  if (file) useFaceImage(file);
});
$('upload-face').addEventListener('click', (event) => {
  // The label's own click (not the one it forwards to its radio) opens the picker when no image was chosen yet.
  if (event.target !== $('face-upload-radio') && !demo.uploadedFace) $('face-file').click();
});
$('liveliness').addEventListener('input', (event) => {
  $('liveliness-value').textContent = Number(event.target.value).toFixed(1);
});
$('muted').addEventListener('change', (event) => {
  $('video').muted = event.target.checked;
});
for (const target of [$('drop-zone'), $('setup')]) {
  target.addEventListener('dragover', (event) => {
    event.preventDefault();
    $('drop-zone').classList.add('dragging');
  });
  target.addEventListener('dragleave', () => $('drop-zone').classList.remove('dragging'));
  target.addEventListener('drop', onDrop);
}
window.addEventListener('pagehide', closeOnExit);
setState('setup');
