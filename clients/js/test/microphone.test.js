import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { TalkstreamClient, startMicrophone } from '../talkstream.js';
import { INIT_ANSWER, RecordingServer, delay, feedAnswer, json } from '../test-support/server.js';

// The AudioWorklet global scope, reduced to what mic-worklet.js uses.
class FakePort {
  constructor() { this.sent = []; this.onmessage = null; this.peer = null; }
  postMessage(data) { this.sent.push(data); this.peer?.onmessage?.({ data }); }
}

let Processor;
globalThis.AudioWorkletProcessor = class { constructor() { this.port = new FakePort(); } };
globalThis.registerProcessor = (name, cls) => { assert.equal(name, 'talkstream-mic-chunker'); Processor = cls; };
await import('../mic-worklet.js');

function block(frames, ...channelValues) {
  return [channelValues.map((value) => new Float32Array(frames).fill(value))];
}

describe('mic-worklet.js', () => {
  test('mixes channels to mono and posts chunks of chunkSamples, then the rest on flush', () => {
    const p = new Processor({ processorOptions: { chunkSamples: 300 } });
    for (let i = 0; i < 3; i++) assert.equal(p.process(block(128, 0.2, 0.4)), true); // 384 frames
    assert.equal(p.port.sent.length, 1);
    assert.equal(p.port.sent[0].type, 'chunk');
    assert.equal(p.port.sent[0].samples.length, 300);
    assert.ok(Math.abs(p.port.sent[0].samples[299] - 0.3) < 1e-6);
    p.port.onmessage({ data: { type: 'flush' } });
    assert.equal(p.port.sent[1].type, 'flushed');
    assert.equal(p.port.sent[1].samples.length, 84);
    assert.equal(p.process(block(128, 1)), false); // ends after the flush
    p.port.onmessage({ data: { type: 'flush' } });
    assert.equal(p.port.sent.length, 2);
  });

  test('no input connected yet: keeps running, posts nothing', () => {
    const p = new Processor({ processorOptions: { chunkSamples: 128 } });
    assert.equal(p.process([[]]), true);
    assert.equal(p.process([]), true);
    assert.equal(p.port.sent.length, 0);
  });
});

describe('startMicrophone', () => {
  const server = new RecordingServer();
  before(() => server.start());
  after(() => server.stop());

  test('feeds each worklet chunk in order at the context rate; stop() flushes the last one', async () => {
    server.handler = async (req, index) => {
      if (req.path.endsWith('/init')) return json(201, INIT_ANSWER);
      await delay(index === 1 ? 40 : 1); // first feed slowest: order must hold anyway
      return feedAnswer();
    };
    const session = await new TalkstreamClient(server.url).initSession();
    let node;
    globalThis.AudioWorkletNode = class {
      constructor(context, name, options) {
        assert.equal(name, 'talkstream-mic-chunker');
        node = new Processor(options); // the real processor, run by hand below
        this.port = new FakePort();
        this.port.peer = node.port;
        node.port.peer = this.port;
        this.disconnected = false;
      }
      disconnect() { this.disconnected = true; }
    };
    const modules = [];
    const stoppedTracks = [];
    const context = {
      sampleRate: 16000,
      state: 'running',
      audioWorklet: { addModule: async (url) => { modules.push(String(url)); } },
      createMediaStreamSource: () => ({ connect() {}, disconnect() {} }),
    };
    const stream = { getTracks: () => [{ stop: () => stoppedTracks.push(1) }] };
    const chunks = [];
    const mic = await startMicrophone(session, { chunkSeconds: 0.016, audioContext: context, stream,
      onChunk: (c) => chunks.push(c.samples.length) }); // 256 samples per chunk
    assert.equal(mic.sampleRate, 16000);
    assert.match(modules[0], /mic-worklet\.js$/);
    for (let i = 0; i < 5; i++) node.process(block(128, i / 10)); // 640 samples: 2 chunks + 128 left
    await mic.stop();
    const feeds = server.requests.slice(1);
    assert.deepEqual(feeds.map((r) => r.body.length / 4), [256, 256, 128]);
    assert.deepEqual(feeds.map((r) => r.query.get('sample_rate')), ['16000', '16000', '16000']);
    assert.deepEqual(feeds.map((r) => r.query.get('format')), ['f32le', 'f32le', 'f32le']);
    const firsts = feeds.map((r) => new Float32Array(new Uint8Array(r.body).buffer)[0]);
    assert.deepEqual(firsts.map((v) => Math.round(v * 10)), [0, 2, 4]);
    assert.deepEqual(chunks, [256, 256, 128]);
    assert.equal(server.maxInFlight, 1);
    assert.deepEqual(stoppedTracks, []); // a stream passed in belongs to the caller
    assert.equal(await mic.stop(), undefined); // idempotent
    assert.equal(server.requests.length, 4);
    delete globalThis.AudioWorkletNode;
  });

  test('stop({final: true}) ends the stream even when nothing is left; owned streams are released', async () => {
    server.requests = [];
    server.handler = (req) => (req.path.endsWith('/init') ? json(201, INIT_ANSWER) : feedAnswer());
    const session = await new TalkstreamClient(server.url).initSession();
    let node;
    globalThis.AudioWorkletNode = class {
      constructor(_context, _name, options) {
        node = new Processor(options);
        this.port = new FakePort();
        this.port.peer = node.port;
        node.port.peer = this.port;
      }
      disconnect() {}
    };
    const stopped = [];
    globalThis.navigator ??= {};
    const saved = globalThis.navigator.mediaDevices;
    Object.defineProperty(globalThis.navigator, 'mediaDevices', { configurable: true, value: {
      getUserMedia: async () => ({ getTracks: () => [{ stop: () => stopped.push('track') }] }) } });
    const contextClosed = [];
    globalThis.AudioContext = class {
      sampleRate = 48000;
      state = 'suspended';
      audioWorklet = { addModule: async () => undefined };
      createMediaStreamSource() { return { connect() {}, disconnect() {} }; }
      async resume() { this.state = 'running'; }
      close() { contextClosed.push(true); }
    };
    try {
      const mic = await startMicrophone(session, { chunkSeconds: 1 });
      node.process(block(128, 0.1));
      await mic.stop({ final: true });
      const feeds = server.requests.slice(1);
      assert.equal(feeds.length, 1);
      assert.equal(feeds[0].body.length, 128 * 4);
      assert.equal(feeds[0].query.get('is_final'), 'true');
      assert.equal(feeds[0].query.get('sample_rate'), '48000');
      assert.deepEqual(stopped, ['track']);
      assert.deepEqual(contextClosed, [true]);
    } finally {
      delete globalThis.AudioWorkletNode;
      delete globalThis.AudioContext;
      Object.defineProperty(globalThis.navigator, 'mediaDevices', { configurable: true, value: saved });
    }
  });
});
