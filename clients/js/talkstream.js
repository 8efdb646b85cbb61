// talkstream browser client: open sessions, feed audio (PCM, files, microphone), play the live HLS stream.
// Plain ES module, no build step, no dependencies: hls.js is passed to attachPlayer (or found on globalThis.Hls).

export const API_PREFIX = '/api/audio-driven/chunked';

/** Live low-latency hls.js settings (see shared/docs/HLS.md and bench/glass.py). The server writes plain live HLS
 * (0.32 s segments, no LL-HLS parts); the player sits ~0.7 s (about two segments) behind the live edge.
 * `lowLatencyMode` is on because hls.js 1.7 only speeds playback up (here up to 1.5x) to regain that distance
 * after a stall when it is: without it a player keeps whatever delay it started with. */
export const LIVE_HLS_CONFIG = Object.freeze({
  lowLatencyMode: true,
  liveSyncDuration: 0.7,
  liveMaxLatencyDuration: 3,
  maxLiveSyncPlaybackRate: 1.5,
  backBufferLength: 10,
  enableWorker: true,
});

const INIT_FIELDS = {
  sessionId: 'session_id',
  chunkDuration: 'chunk_duration',
  audioSampleRate: 'audio_sample_rate',
  sampleRate: 'audio_sample_rate',
  cfgScale: 'cfg_scale',
  poseStyle: 'pose_style',
  gazeStyle: 'gaze_style',
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** An API failure: `status` is the HTTP status (0 when the server could not be reached), `code` the error code
 * of the JSON body (`not_found`, `queue_full`, ...), `message` what was wrong. */
export class TalkstreamError extends Error {
  constructor(status, code, message, { retryAfter = null, body = null, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'TalkstreamError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.body = body;
  }
}

/** An open session: ids and URLs from /init, plus the queue that keeps its feeds in order. */
export class Session {
  constructor(client, info) {
    this.client = client;
    this.info = info;
    this.id = info.session_id;
    this.mode = info.mode;
    this.params = info.params ?? {};
    this.hlsUrl = client.url(info.hls_url);
    this.statusUrl = client.url(info.status_url ?? `${API_PREFIX}/status/${info.session_id}`);
    this._tail = Promise.resolve();
  }

  feedAudioChunk(audio, options) {
    return this.client.feedAudioChunk(this, audio, options);
  }

  getStatus() {
    return this.client.getStatus(this);
  }

  interrupt() {
    return this.client.interrupt(this);
  }

  close() {
    return this.client.close(this);
  }

  /** Resolves once the first segment is listed (the playlist exists), polling /status. */
  async waitForStream({ timeoutMs = 30000, intervalMs = 250 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.getStatus();
      if (status.segments_written > 0) return status;
      if (status.status === 'error' || status.status === 'closed') {
        throw new TalkstreamError(0, 'session_failed', status.last_error || `the session is ${status.status}`);
      }
      if (Date.now() > deadline) {
        throw new TalkstreamError(0, 'timeout', `no HLS segment was written within ${timeoutMs / 1000} s`);
      }
      await this.client.sleep(intervalMs);
    }
  }

  /** Runs `task` after every earlier queued task settled, whatever their outcome. */
  _enqueue(task) {
    const run = this._tail.then(task);
    this._tail = run.catch(() => undefined);
    return run;
  }
}

/** HTTP client for one talkstream server. */
export class TalkstreamClient {
  /**
   * @param {string} baseUrl server URL, e.g. "http://127.0.0.1:9999" (a path prefix is kept); "" means the page's
   *   own origin
   * @param {object} [options] apiKey, fetch, maxRetries (429s retried, default 5), maxRetryDelayMs (30000), sleep
   */
  constructor(baseUrl = '', { apiKey, fetch: fetchImpl, maxRetries = 5, maxRetryDelayMs = 30000, sleep } = {}) {
    this.baseUrl = resolveBase(baseUrl);
    this.apiKey = apiKey || null;
    this.maxRetries = maxRetries;
    this.maxRetryDelayMs = maxRetryDelayMs;
    this._fetch = fetchImpl ?? ((...args) => globalThis.fetch(...args));
    this.sleep = sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Absolute URL of a server path, under the base URL's path (so a server behind a path prefix works). */
  url(path) {
    return new URL(/^[a-z][a-z0-9+.-]*:/i.test(path) ? path : path.replace(/^\/+/, ''), this.baseUrl).href;
  }

  /** POST /init: `image` (File/Blob, optional: the server's default face) and any init field, in camelCase or
   * snake_case (`chunkDuration` or `chunk_duration`, `mode`, `liveliness`, `poseStyle` as an array...). */
  async initSession({ image, ...params } = {}) {
    const form = new FormData();
    if (image != null) form.append('image', image, image.name || 'face');
    for (const [key, value] of Object.entries(params)) {
      if (value === undefined || value === null) continue;
      form.append(INIT_FIELDS[key] ?? key, formValue(value));
    }
    const info = await this.request('POST', `${API_PREFIX}/init`, { body: () => form });
    return new Session(this, info);
  }

  /** Queue one audio chunk after the session's earlier feeds (they never interleave).
   * Float32Array → f32le, Int16Array → s16le, ArrayBuffer/Uint8Array → raw s16le bytes, all mono PCM in the body;
   * a Blob/File (WAV, MP3, WebM...) goes multipart to /feed. `null` with isFinal ends the stream. */
  feedAudioChunk(session, audio, { sampleRate, isFinal = false, signal } = {}) {
    const request = this._feedRequest(session, audio, sampleRate, isFinal);
    return session._enqueue(() => this.request('POST', request.path, { body: request.body, signal }));
  }

  _feedRequest(session, audio, sampleRate, isFinal) {
    if (typeof Blob !== 'undefined' && audio instanceof Blob) {
      return { path: `${API_PREFIX}/feed`, body: () => feedForm(session.id, audio, isFinal) };
    }
    const { bytes, format } = pcmBytes(audio);
    const rate = sampleRate ?? session.params.audio_sample_rate;
    const query = new URLSearchParams();
    if (rate != null) query.set('sample_rate', String(Math.round(rate)));
    query.set('format', format);
    query.set('channels', '1');
    query.set('is_final', isFinal ? 'true' : 'false');
    const path = `${API_PREFIX}/feed/${encodeURIComponent(session.id)}?${query}`;
    return { path, body: () => bytes };
  }

  /** GET /status: state, counters, latency percentiles. */
  getStatus(session) {
    return this.request('GET', `${API_PREFIX}/status/${encodeURIComponent(sessionId(session))}`);
  }

  /** POST /interrupt: drop queued speech, back to idle. */
  interrupt(session) {
    return this.request('POST', `${API_PREFIX}/interrupt/${encodeURIComponent(sessionId(session))}`);
  }

  /** DELETE /session: stop the session and remove its files. */
  close(session) {
    return this.request('DELETE', `${API_PREFIX}/session/${encodeURIComponent(sessionId(session))}`);
  }

  /** One API call: JSON answer, TalkstreamError on failure, 429 retried after Retry-After (bounded). */
  async request(method, path, { body, signal } = {}) {
    for (let attempt = 0; ; attempt++) {
      const response = await this._send(method, path, body, signal);
      if (response.ok) return response.status === 204 ? {} : response.json();
      const error = await errorFromResponse(response);
      if (response.status !== 429 || attempt >= this.maxRetries) throw error;
      const delay = Math.min(retryDelayMs(error.retryAfter, attempt), this.maxRetryDelayMs);
      await this.sleep(delay);
      if (signal?.aborted) throw error;
    }
  }

  async _send(method, path, body, signal) {
    const headers = {};
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    const payload = typeof body === 'function' ? body() : body;
    if (payload instanceof Uint8Array) headers['Content-Type'] = 'application/octet-stream';
    try {
      return await this._fetch(this.url(path), { method, headers, body: payload, signal });
    } catch (cause) {
      if (cause?.name === 'AbortError') throw cause;
      const why = cause?.message || String(cause);
      throw new TalkstreamError(0, 'network_error', `cannot reach ${this.baseUrl} (${why})`, { cause });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Function API: the same operations without managing a client object.

/** Open a session on the server at `baseUrl`; `options.apiKey`/`fetch`/`maxRetries` configure the client. */
export function initSession(baseUrl, { apiKey, fetch, maxRetries, maxRetryDelayMs, ...params } = {}) {
  return new TalkstreamClient(baseUrl, { apiKey, fetch, maxRetries, maxRetryDelayMs }).initSession(params);
}

export function feedAudioChunk(session, audio, options) {
  return session.client.feedAudioChunk(session, audio, options);
}

export function getStatus(session) {
  return session.client.getStatus(session);
}

export function interrupt(session) {
  return session.client.interrupt(session);
}

export function close(session) {
  return session.client.close(session);
}

// ---------------------------------------------------------------------------------------------------------------
// Playback

/** Play a live HLS URL in `video`: hls.js when supported (Media Source Extensions), else native HLS (Safari).
 * Options: Hls (the hls.js class; default globalThis.Hls), hlsConfig (overrides LIVE_HLS_CONFIG), onError(err),
 * autoplay (default true). Returns { hls, native, destroy(), onError, latency() }. */
export function attachPlayer(video, hlsUrl, { Hls = globalThis.Hls, hlsConfig = {}, onError, autoplay = true } = {}) {
  const handle = { hls: null, native: false, onError: onError ?? null, destroyed: false };
  const report = (error) => {
    if (!handle.destroyed && handle.onError) handle.onError(error);
  };
  const play = () => {
    if (!autoplay) return;
    const started = video.play();
    if (started && typeof started.catch === 'function') {
      started.catch((cause) => report(playbackError('play_failed', `playback did not start: ${cause?.message ?? cause}`, cause)));
    }
  };
  if (Hls && typeof Hls.isSupported === 'function' && Hls.isSupported()) {
    const hls = new Hls({ ...LIVE_HLS_CONFIG, ...playlistRetryConfig(), ...hlsConfig });
    handle.hls = hls;
    let recovered = false;
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      const recover = data.type === Hls.ErrorTypes?.MEDIA_ERROR && !recovered;
      report(playbackError(`hls_${data.type}`, `${data.type}: ${data.details}${recover ? ' (recovering)' : ''}`, data));
      if (recover) {
        recovered = true; // one attempt: a decode error that repeats is not transient
        hls.recoverMediaError();
      }
    });
    hls.on(Hls.Events.MANIFEST_PARSED, play);
    hls.loadSource(hlsUrl);
    hls.attachMedia(video);
    handle.destroy = () => {
      handle.destroyed = true;
      hls.destroy();
    };
    handle.latency = () => (Number.isFinite(hls.latency) ? hls.latency : null);
    return handle;
  }
  if (video.canPlayType('application/vnd.apple.mpegurl')) {
    handle.native = true;
    const onVideoError = () => report(playbackError('media_error', video.error?.message || 'the video element failed', video.error));
    video.addEventListener('error', onVideoError);
    video.src = hlsUrl;
    play();
    handle.destroy = () => {
      handle.destroyed = true;
      video.removeEventListener('error', onVideoError);
      video.removeAttribute('src');
      video.load();
    };
    handle.latency = () => nativeLatency(video);
    return handle;
  }
  throw new TalkstreamError(0, 'unsupported', 'this browser plays HLS neither through hls.js (no Media Source Extensions) nor natively');
}

function playlistRetryConfig() {
  // The playlist appears only once the first segment is written, and a sliding playlist may lag a moment:
  // retry 404s on playlists too (hls.js retries 4xx on no request by default).
  const retry404 = (config, count, _timeout, response, retry) => retry || (response?.code === 404 && count < config.maxNumRetry);
  const policy = {
    default: {
      maxTimeToFirstByteMs: 10000,
      maxLoadTimeMs: 20000,
      timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
      errorRetry: { maxNumRetry: 8, retryDelayMs: 500, maxRetryDelayMs: 2000, shouldRetry: retry404 },
    },
  };
  return { manifestLoadPolicy: policy, playlistLoadPolicy: policy };
}

function nativeLatency(video) {
  const seekable = video.seekable;
  if (!seekable || seekable.length === 0) return null;
  return Math.max(0, seekable.end(seekable.length - 1) - video.currentTime);
}

function playbackError(code, message, detail) {
  const error = new TalkstreamError(0, code, message);
  error.detail = detail;
  return error;
}

// ---------------------------------------------------------------------------------------------------------------
// Microphone

/** Capture the microphone (getUserMedia + an AudioWorklet) and feed it to `session` as Float32 chunks of
 * `chunkSeconds`, in order, at the AudioContext's sample rate. Options: chunkSeconds (0.5), stream (an existing
 * MediaStream), audioContext, workletUrl, constraints, onChunk({samples, sampleRate, response}), onError(err).
 * Returns { audioContext, stream, sampleRate, stop({final}) }: stop() feeds the last partial chunk and resolves
 * when every chunk was answered. */
export async function startMicrophone(session, options = {}) {
  const { chunkSeconds = 0.5, onChunk, onError, constraints } = options;
  const workletUrl = options.workletUrl ?? new URL('./mic-worklet.js', import.meta.url);
  const stream = options.stream ?? (await navigator.mediaDevices.getUserMedia({
    audio: constraints ?? { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  }));
  const ownsContext = !options.audioContext;
  const context = options.audioContext ?? new AudioContext();
  const release = () => {
    if (!options.stream) stream.getTracks().forEach((track) => track.stop());
    if (ownsContext) context.close();
  };
  let node;
  try {
    await context.audioWorklet.addModule(workletUrl);
    const chunkSamples = Math.max(128, Math.round(chunkSeconds * context.sampleRate));
    node = new AudioWorkletNode(context, 'talkstream-mic-chunker', { processorOptions: { chunkSamples } });
  } catch (error) {
    release();
    throw error;
  }
  const source = context.createMediaStreamSource(stream);
  const sampleRate = context.sampleRate;
  let pending = Promise.resolve();
  let flushed = null;
  const feed = (samples, isFinal) => {
    const fed = session.client.feedAudioChunk(session, samples, { sampleRate, isFinal });
    pending = fed.then(
      (response) => onChunk?.({ samples, sampleRate, response }),
      (error) => onError?.(error),
    );
    return pending;
  };
  node.port.onmessage = ({ data }) => {
    if (data.type === 'chunk') feed(data.samples, false);
    else if (data.type === 'flushed') flushed?.(data.samples);
  };
  source.connect(node);
  if (context.state === 'suspended') await context.resume();
  let stopping = null;
  const stop = ({ final = false } = {}) => {
    stopping ??= (async () => {
      const last = await new Promise((resolve) => {
        flushed = resolve;
        node.port.postMessage({ type: 'flush' });
      });
      source.disconnect();
      node.disconnect();
      release();
      if (last.length > 0 || final) await feed(last, final);
      await pending;
    })();
    return stopping;
  };
  return { audioContext: context, stream, sampleRate, stop };
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

function resolveBase(baseUrl) {
  const origin = globalThis.location?.href;
  if (!baseUrl) {
    if (!origin) throw new TypeError('baseUrl is required outside a browser page');
    return new URL('/', origin).href;
  }
  const url = origin ? new URL(baseUrl, origin) : new URL(baseUrl);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.href;
}

function sessionId(session) {
  return typeof session === 'string' ? session : session.id;
}

function formValue(value) {
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return JSON.stringify(value);
  return String(value);
}

function feedForm(id, audio, isFinal) {
  const form = new FormData();
  form.append('session_id', id);
  form.append('audio_chunk', audio, audio.name || 'chunk');
  form.append('is_final_chunk', isFinal ? 'true' : 'false');
  return form;
}

/** The little-endian bytes of a PCM chunk and its wire format (only this view's bytes, not its whole buffer). */
export function pcmBytes(audio) {
  if (audio == null) return { bytes: new Uint8Array(0), format: 's16le' };
  if (audio instanceof Float32Array) return { bytes: littleEndian(audio, 4, 'setFloat32'), format: 'f32le' };
  if (audio instanceof Int16Array) return { bytes: littleEndian(audio, 2, 'setInt16'), format: 's16le' };
  if (audio instanceof ArrayBuffer) return { bytes: new Uint8Array(audio.slice(0)), format: 's16le' };
  if (audio instanceof Uint8Array) return { bytes: audio.slice(), format: 's16le' };
  throw new TypeError('audio must be a Float32Array, Int16Array, ArrayBuffer, Uint8Array or Blob');
}

function littleEndian(samples, width, setter) {
  const bytes = new Uint8Array(samples.buffer.slice(samples.byteOffset, samples.byteOffset + samples.byteLength));
  if (!LITTLE_ENDIAN) {
    const view = new DataView(bytes.buffer);
    samples.forEach((value, i) => view[setter](i * width, value, true));
  }
  return bytes;
}

async function errorFromResponse(response) {
  const text = await response.text().catch(() => '');
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  const detail = body?.error;
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
  if (detail && typeof detail === 'object') {
    return new TalkstreamError(response.status, detail.code || 'http_error', detail.message || response.statusText, { retryAfter, body });
  }
  const snippet = text.trim().slice(0, 200) || response.statusText || 'no body';
  return new TalkstreamError(response.status, 'http_error', `HTTP ${response.status}: ${snippet}`, { retryAfter, body });
}

/** Retry-After in seconds (a number or an HTTP date), or null. */
export function parseRetryAfter(value) {
  if (value == null || value.trim() === '') return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, (date - Date.now()) / 1000);
}

function retryDelayMs(retryAfter, attempt) {
  if (retryAfter != null) return retryAfter * 1000;
  return 500 * 2 ** attempt;
}
