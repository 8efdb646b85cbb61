import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';

import {
  TalkstreamClient,
  TalkstreamError,
  close,
  feedAudioChunk,
  getStatus,
  initSession,
  interrupt,
  parseRetryAfter,
  pcmBytes,
} from '../talkstream.js';
import { INIT_ANSWER, RecordingServer, delay, errorBody, feedAnswer, formOf, json } from '../test-support/server.js';

const API = '/api/audio-driven/chunked';
const server = new RecordingServer();

before(() => server.start());
after(() => server.stop());
beforeEach(() => {
  server.requests = [];
  server.maxInFlight = 0;
  server.handler = (req) => (req.path.endsWith('/init') ? json(201, INIT_ANSWER) : feedAnswer());
});

function floatBytesLE(values) {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return Buffer.from(view.buffer);
}

function int16BytesLE(values) {
  const view = new DataView(new ArrayBuffer(values.length * 2));
  values.forEach((v, i) => view.setInt16(i * 2, v, true));
  return Buffer.from(view.buffer);
}

describe('initSession', () => {
  test('posts multipart with the image and snake_case fields; answers a Session with absolute URLs', async () => {
    const image = new Blob([new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3])], { type: 'image/jpeg' });
    const session = await initSession(server.url, {
      image, chunkDuration: 0.5, mode: 'event', crop: false, poseStyle: [1, 2, 3], liveliness: 0.5, seed: 7,
    });
    const [req] = server.requests;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, `${API}/init`);
    const form = await formOf(req);
    assert.deepEqual(Buffer.from(await form.get('image').arrayBuffer()), Buffer.from([0xff, 0xd8, 0xff, 1, 2, 3]));
    assert.equal(form.get('chunk_duration'), '0.5');
    assert.equal(form.get('mode'), 'event');
    assert.equal(form.get('crop'), 'false');
    assert.equal(form.get('pose_style'), '[1,2,3]');
    assert.equal(form.get('liveliness'), '0.5');
    assert.equal(form.get('seed'), '7');
    assert.equal(session.id, 'sess_12345678');
    assert.equal(session.hlsUrl, `${server.url}/hls/sess_12345678/index.m3u8`);
    assert.equal(session.statusUrl, `${server.url}${API}/status/sess_12345678`);
    assert.equal(session.params.audio_sample_rate, 24000);
  });

  test('without an image no image field is sent (the server uses its default face)', async () => {
    await initSession(server.url);
    const form = await formOf(server.requests[0]);
    assert.equal(form.has('image'), false);
  });

  test('apiKey is sent as a Bearer token on every call', async () => {
    const session = await initSession(server.url, { apiKey: 's3cret' });
    await getStatus(session);
    assert.deepEqual(server.requests.map((r) => r.headers.authorization), ['Bearer s3cret', 'Bearer s3cret']);
  });

  test('a base URL with a path prefix keeps it', async () => {
    const client = new TalkstreamClient(`${server.url}/`);
    assert.equal(client.url('/hls/x/index.m3u8'), `${server.url}/hls/x/index.m3u8`);
    const prefixed = new TalkstreamClient('http://example.test/talk');
    assert.equal(prefixed.url('/api/x'), 'http://example.test/talk/api/x');
    assert.equal(prefixed.url('http://other.test/hls/a.m3u8'), 'http://other.test/hls/a.m3u8');
  });
});

describe('feedAudioChunk', () => {
  test('Float32Array is sent as f32le bytes of exactly that view', async () => {
    const session = await initSession(server.url);
    const whole = new Float32Array([9, 0.25, -0.5, 1, -1, 9]);
    await feedAudioChunk(session, whole.subarray(1, 5), { sampleRate: 48000 });
    const req = server.requests[1];
    assert.equal(req.path, `${API}/feed/sess_12345678`);
    assert.equal(req.query.get('sample_rate'), '48000');
    assert.equal(req.query.get('format'), 'f32le');
    assert.equal(req.query.get('channels'), '1');
    assert.equal(req.query.get('is_final'), 'false');
    assert.equal(req.headers['content-type'], 'application/octet-stream');
    assert.deepEqual(req.body, floatBytesLE([0.25, -0.5, 1, -1]));
  });

  test('Int16Array is sent as s16le at the session rate by default; isFinal sets is_final=true', async () => {
    const session = await initSession(server.url);
    await feedAudioChunk(session, new Int16Array([1, -2, 32767, -32768]), { isFinal: true });
    const req = server.requests[1];
    assert.equal(req.query.get('format'), 's16le');
    assert.equal(req.query.get('sample_rate'), '24000');
    assert.equal(req.query.get('is_final'), 'true');
    assert.deepEqual(req.body, int16BytesLE([1, -2, 32767, -32768]));
  });

  test('ArrayBuffer is sent as raw s16le bytes', async () => {
    const session = await initSession(server.url);
    await feedAudioChunk(session, new Uint8Array([1, 2, 3, 4]).buffer, { sampleRate: 16000 });
    const req = server.requests[1];
    assert.equal(req.query.get('format'), 's16le');
    assert.equal(req.query.get('sample_rate'), '16000');
    assert.deepEqual(req.body, Buffer.from([1, 2, 3, 4]));
  });

  test('the samples are copied when called: reusing the array afterwards does not change what is sent', async () => {
    const session = await initSession(server.url);
    const samples = new Float32Array([0.5, 0.5]);
    const fed = feedAudioChunk(session, samples);
    samples.fill(0);
    await fed;
    assert.deepEqual(server.requests[1].body, floatBytesLE([0.5, 0.5]));
  });

  test('null with isFinal ends the stream with an empty body', async () => {
    const session = await initSession(server.url);
    await feedAudioChunk(session, null, { isFinal: true });
    assert.equal(server.requests[1].body.length, 0);
    assert.equal(server.requests[1].query.get('is_final'), 'true');
  });

  test('a Blob goes multipart to /feed as a file with session_id and is_final_chunk', async () => {
    const session = await initSession(server.url);
    const wav = new File([new Uint8Array([0x52, 0x49, 0x46, 0x46, 9])], 'speech.wav', { type: 'audio/wav' });
    await feedAudioChunk(session, wav, { isFinal: true });
    const req = server.requests[1];
    assert.equal(req.path, `${API}/feed`);
    const form = await formOf(req);
    assert.equal(form.get('session_id'), 'sess_12345678');
    assert.equal(form.get('is_final_chunk'), 'true');
    const file = form.get('audio_chunk');
    assert.equal(file.name, 'speech.wav');
    assert.equal(file.type, 'audio/wav');
    assert.deepEqual(Buffer.from(await file.arrayBuffer()), Buffer.from([0x52, 0x49, 0x46, 0x46, 9]));
  });

  test('other types are refused before anything is sent', async () => {
    const session = await initSession(server.url);
    assert.throws(() => feedAudioChunk(session, [0.1, 0.2]), TypeError);
    assert.throws(() => feedAudioChunk(session, new Float64Array(2)), TypeError);
    assert.equal(server.requests.length, 1);
  });

  test('concurrent feeds of one session are sent one at a time, in call order', async () => {
    const session = await initSession(server.url);
    server.handler = async (req) => {
      const index = new Float32Array(new Uint8Array(req.body).buffer)[0];
      await delay(index === 0 ? 60 : 5); // the first answer is the slowest
      return feedAnswer({ accepted_seconds: index });
    };
    const answers = await Promise.all(
      [0, 1, 2, 3, 4].map((i) => feedAudioChunk(session, new Float32Array([i, i]), { sampleRate: 16000 })),
    );
    const sent = server.requests.slice(1).map((r) => new Float32Array(new Uint8Array(r.body).buffer)[0]);
    assert.deepEqual(sent, [0, 1, 2, 3, 4]);
    assert.deepEqual(answers.map((a) => a.accepted_seconds), [0, 1, 2, 3, 4]);
    assert.equal(server.maxInFlight, 1);
  });

  test('a failed feed rejects its own promise only; the next ones are still sent in order', async () => {
    const session = await initSession(server.url);
    server.handler = (req) => {
      const first = new Int16Array(new Uint8Array(req.body).buffer)[0];
      return first === 2 ? errorBody(400, 'bad_audio', 'cannot decode') : feedAnswer();
    };
    const results = await Promise.allSettled(
      [1, 2, 3].map((i) => feedAudioChunk(session, new Int16Array([i]), { sampleRate: 16000 })),
    );
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.equal(results[1].reason.code, 'bad_audio');
    assert.equal(server.requests.length, 4);
  });
});

describe('errors', () => {
  test('the JSON error body maps to TalkstreamError(status, code, message)', async () => {
    server.handler = () => errorBody(404, 'not_found', 'no session nope1234');
    const client = new TalkstreamClient(server.url);
    await assert.rejects(client.getStatus('nope1234'), (error) => {
      assert.ok(error instanceof TalkstreamError);
      assert.ok(error instanceof Error);
      assert.equal(error.status, 404);
      assert.equal(error.code, 'not_found');
      assert.equal(error.message, 'no session nope1234');
      assert.deepEqual(error.body, { status: 'error', error: { code: 'not_found', message: 'no session nope1234' } });
      return true;
    });
  });

  test('a non-JSON error answer still gives a readable TalkstreamError', async () => {
    server.handler = () => ({ status: 502, body: '<html>Bad gateway</html>', headers: { 'Content-Type': 'text/html' } });
    const client = new TalkstreamClient(server.url);
    await assert.rejects(client.interrupt('abcdefgh'), { name: 'TalkstreamError', status: 502, code: 'http_error',
      message: 'HTTP 502: <html>Bad gateway</html>' });
  });

  test('an unreachable server is a network_error with status 0', async () => {
    const client = new TalkstreamClient('http://127.0.0.1:9');
    await assert.rejects(client.getStatus('abcdefgh'), { name: 'TalkstreamError', status: 0, code: 'network_error' });
  });

  test('getStatus, interrupt and close use the documented methods and paths', async () => {
    const session = await initSession(server.url);
    await getStatus(session);
    await interrupt(session);
    await close(session);
    assert.deepEqual(server.requests.slice(1).map((r) => `${r.method} ${r.path}`), [
      `GET ${API}/status/sess_12345678`,
      `POST ${API}/interrupt/sess_12345678`,
      `DELETE ${API}/session/sess_12345678`,
    ]);
  });
});

describe('429 retry', () => {
  function fakeSleep() {
    const waits = [];
    return { waits, sleep: async (ms) => { waits.push(ms); } };
  }

  test('429 is retried after Retry-After seconds, with the same body, until it succeeds', async () => {
    const { waits, sleep } = fakeSleep();
    const client = new TalkstreamClient(server.url, { sleep });
    const session = await client.initSession();
    server.handler = (_req, index) => (index < 3 ? errorBody(429, 'queue_full', 'too much queued', { 'Retry-After': '2' })
      : feedAnswer({ accepted_seconds: 1 }));
    const answer = await client.feedAudioChunk(session, new Float32Array([0.5, -0.5]));
    assert.equal(answer.accepted_seconds, 1);
    assert.deepEqual(waits, [2000, 2000]);
    const bodies = server.requests.slice(1).map((r) => r.body);
    assert.equal(bodies.length, 3);
    for (const body of bodies) assert.deepEqual(body, floatBytesLE([0.5, -0.5]));
  });

  test('multipart feeds are re-sent whole on retry', async () => {
    const { sleep } = fakeSleep();
    const client = new TalkstreamClient(server.url, { sleep });
    const session = await client.initSession();
    server.handler = (_req, index) => (index === 1 ? errorBody(429, 'queue_full', 'full', { 'Retry-After': '1' }) : feedAnswer());
    await client.feedAudioChunk(session, new Blob([new Uint8Array([1, 2, 3])], { type: 'audio/wav' }));
    const forms = await Promise.all(server.requests.slice(1).map(formOf));
    assert.equal(forms.length, 2);
    for (const form of forms) assert.deepEqual(Buffer.from(await form.get('audio_chunk').arrayBuffer()), Buffer.from([1, 2, 3]));
  });

  test('retries are bounded: after maxRetries the 429 is thrown, and each wait is capped', async () => {
    const { waits, sleep } = fakeSleep();
    const client = new TalkstreamClient(server.url, { sleep, maxRetries: 3, maxRetryDelayMs: 5000 });
    server.handler = () => errorBody(429, 'queue_full', 'too much queued', { 'Retry-After': '120' });
    await assert.rejects(client.getStatus('abcdefgh'), { status: 429, code: 'queue_full', retryAfter: 120 });
    assert.equal(server.requests.length, 4);
    assert.deepEqual(waits, [5000, 5000, 5000]);
  });

  test('without Retry-After the wait backs off exponentially', async () => {
    const { waits, sleep } = fakeSleep();
    const client = new TalkstreamClient(server.url, { sleep, maxRetries: 2 });
    server.handler = () => errorBody(429, 'queue_full', 'full');
    await assert.rejects(client.getStatus('abcdefgh'), { status: 429 });
    assert.deepEqual(waits, [500, 1000]);
  });

  test('other errors are not retried', async () => {
    const { waits, sleep } = fakeSleep();
    const client = new TalkstreamClient(server.url, { sleep });
    server.handler = () => errorBody(503, 'session_limit', 'too many sessions', { 'Retry-After': '5' });
    await assert.rejects(client.initSession(), { status: 503, code: 'session_limit' });
    assert.equal(server.requests.length, 1);
    assert.deepEqual(waits, []);
  });
});

describe('waitForStream', () => {
  test('polls /status until the first segment is written', async () => {
    const waits = [];
    const client = new TalkstreamClient(server.url, { sleep: async (ms) => { waits.push(ms); } });
    const session = await client.initSession();
    server.handler = (_req, index) => json(200, { status: 'waiting', segments_written: index < 3 ? 0 : 1 });
    const status = await session.waitForStream({ intervalMs: 100 });
    assert.equal(status.segments_written, 1);
    assert.deepEqual(waits, [100, 100]);
  });

  test('a failed session stops the wait with its last_error', async () => {
    const session = await initSession(server.url);
    server.handler = () => json(200, { status: 'error', segments_written: 0, last_error: 'encoder died' });
    await assert.rejects(session.waitForStream(), { code: 'session_failed', message: 'encoder died' });
  });
});

describe('helpers', () => {
  test('parseRetryAfter reads seconds and HTTP dates', () => {
    assert.equal(parseRetryAfter('3'), 3);
    assert.equal(parseRetryAfter(null), null);
    assert.equal(parseRetryAfter('soon'), null);
    const inTen = new Date(Date.now() + 10_000).toUTCString();
    assert.ok(Math.abs(parseRetryAfter(inTen) - 10) <= 1.5);
  });

  test('pcmBytes copies only the view and names the format', () => {
    const base = new Int16Array([7, 1, 2, 7]);
    const { bytes, format } = pcmBytes(base.subarray(1, 3));
    assert.equal(format, 's16le');
    assert.deepEqual(Buffer.from(bytes), int16BytesLE([1, 2]));
    assert.equal(pcmBytes(new Float32Array(3)).bytes.length, 12);
  });
});
