import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { LIVE_HLS_CONFIG, TalkstreamError, attachPlayer } from '../talkstream.js';

/** A stand-in for the hls.js class that records what attachPlayer does with it. */
function fakeHls({ supported = true } = {}) {
  class FakeHls {
    static isSupported() { return supported; }
    static Events = { ERROR: 'hlsError', MANIFEST_PARSED: 'hlsManifestParsed' };
    static ErrorTypes = { MEDIA_ERROR: 'mediaError', NETWORK_ERROR: 'networkError' };
    static instances = [];
    constructor(config) {
      this.config = config;
      this.listeners = {};
      this.calls = [];
      this.latency = 1.25;
      FakeHls.instances.push(this);
    }
    on(event, listener) { (this.listeners[event] ??= []).push(listener); }
    emit(event, data) { for (const listener of this.listeners[event] ?? []) listener(event, data); }
    loadSource(url) { this.calls.push(['loadSource', url]); }
    attachMedia(media) { this.calls.push(['attachMedia', media]); }
    recoverMediaError() { this.calls.push(['recoverMediaError']); }
    destroy() { this.calls.push(['destroy']); }
  }
  return FakeHls;
}

function fakeVideo({ canPlay = '' } = {}) {
  const listeners = {};
  return {
    played: 0,
    attributes: {},
    src: '',
    canPlayType: (type) => (type === 'application/vnd.apple.mpegurl' ? canPlay : ''),
    play() { this.played++; return Promise.resolve(); },
    load() { this.loaded = true; },
    removeAttribute(name) { this.src = ''; this.attributes[name] = 'removed'; },
    addEventListener(name, fn) { listeners[name] = fn; },
    removeEventListener(name) { delete listeners[name]; },
    fire(name) { listeners[name]?.(); },
    seekable: { length: 1, end: () => 10 },
    currentTime: 8.5,
  };
}

const URL_ = 'http://127.0.0.1:9999/hls/abc/index.m3u8';

describe('attachPlayer', () => {
  test('uses hls.js when supported, with the live low-latency settings', () => {
    const Hls = fakeHls();
    const video = fakeVideo({ canPlay: 'maybe' }); // Chromium says "maybe" but hls.js must win
    const player = attachPlayer(video, URL_, { Hls });
    const [hls] = Hls.instances;
    assert.equal(player.hls, hls);
    assert.equal(player.native, false);
    assert.equal(hls.config.lowLatencyMode, true); // hls.js only catches up after a stall in this mode
    assert.equal(hls.config.liveSyncDuration, 0.7);
    assert.equal(hls.config.liveMaxLatencyDuration, 3);
    assert.equal(hls.config.maxLiveSyncPlaybackRate, 1.5);
    assert.ok(hls.config.backBufferLength <= 30);
    assert.deepEqual(hls.calls, [['loadSource', URL_], ['attachMedia', video]]);
    assert.equal(video.src, '');
    hls.emit('hlsManifestParsed', {});
    assert.equal(video.played, 1);
    assert.equal(player.latency(), 1.25);
    player.destroy();
    assert.deepEqual(hls.calls.at(-1), ['destroy']);
  });

  test('hlsConfig overrides the defaults; the playlist retries 404s while the first segment is written', () => {
    const Hls = fakeHls();
    attachPlayer(fakeVideo(), URL_, { Hls, hlsConfig: { startPosition: 0, liveSyncDuration: 2 } });
    const { config } = Hls.instances[0];
    assert.equal(config.startPosition, 0);
    assert.equal(config.liveSyncDuration, 2);
    const retry = config.manifestLoadPolicy.default.errorRetry;
    assert.equal(retry.shouldRetry(retry, 0, false, { code: 404 }, false), true);
    assert.equal(retry.shouldRetry(retry, retry.maxNumRetry, false, { code: 404 }, false), false);
    assert.equal(retry.shouldRetry(retry, 0, false, { code: 500 }, true), true);
    assert.ok(config.playlistLoadPolicy.default.errorRetry.maxNumRetry > 0);
  });

  test('fatal hls.js errors reach onError (media errors get one recovery attempt); others are ignored', () => {
    const Hls = fakeHls();
    const errors = [];
    const player = attachPlayer(fakeVideo(), URL_, { Hls, onError: (e) => errors.push(e) });
    const hls = Hls.instances[0];
    hls.emit('hlsError', { fatal: false, type: 'networkError', details: 'fragLoadError' });
    hls.emit('hlsError', { fatal: true, type: 'mediaError', details: 'bufferStalledError' });
    hls.emit('hlsError', { fatal: true, type: 'mediaError', details: 'bufferStalledError' });
    player.onError = (e) => errors.push(['replaced', e.code]);
    hls.emit('hlsError', { fatal: true, type: 'networkError', details: 'manifestLoadError' });
    assert.equal(errors.length, 3);
    assert.ok(errors[0] instanceof TalkstreamError);
    assert.equal(errors[0].code, 'hls_mediaError');
    assert.match(errors[0].message, /bufferStalledError \(recovering\)/);
    assert.doesNotMatch(errors[1].message, /recovering/);
    assert.deepEqual(errors[2], ['replaced', 'hls_networkError']);
    assert.equal(hls.calls.filter(([name]) => name === 'recoverMediaError').length, 1);
    player.destroy();
    hls.emit('hlsError', { fatal: true, type: 'networkError', details: 'late' });
    assert.equal(errors.length, 3);
  });

  test('falls back to native HLS when hls.js is not supported', () => {
    const Hls = fakeHls({ supported: false });
    const video = fakeVideo({ canPlay: 'maybe' });
    const errors = [];
    const player = attachPlayer(video, URL_, { Hls, onError: (e) => errors.push(e) });
    assert.equal(player.native, true);
    assert.equal(player.hls, null);
    assert.equal(Hls.instances.length, 0);
    assert.equal(video.src, URL_);
    assert.equal(video.played, 1);
    assert.equal(player.latency(), 1.5);
    video.fire('error');
    assert.equal(errors[0].code, 'media_error');
    player.destroy();
    assert.equal(video.src, '');
    assert.equal(video.loaded, true);
  });

  test('falls back to native HLS when no hls.js class is given or global', () => {
    const player = attachPlayer(fakeVideo({ canPlay: 'probably' }), URL_);
    assert.equal(player.native, true);
  });

  test('uses globalThis.Hls when none is passed', () => {
    const Hls = fakeHls();
    globalThis.Hls = Hls;
    try {
      assert.equal(attachPlayer(fakeVideo(), URL_).hls, Hls.instances[0]);
    } finally {
      delete globalThis.Hls;
    }
  });

  test('neither hls.js nor native HLS: a TalkstreamError says so', () => {
    assert.throws(() => attachPlayer(fakeVideo(), URL_, { Hls: fakeHls({ supported: false }) }),
      { name: 'TalkstreamError', code: 'unsupported' });
  });

  test('a refused play() (autoplay policy) is reported through onError', async () => {
    const Hls = fakeHls();
    const video = fakeVideo();
    video.play = () => Promise.reject(new Error('NotAllowedError: play() failed'));
    const errors = [];
    attachPlayer(video, URL_, { Hls, onError: (e) => errors.push(e) });
    Hls.instances[0].emit('hlsManifestParsed', {});
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(errors[0]?.code, 'play_failed');
  });

  test('LIVE_HLS_CONFIG is frozen', () => {
    assert.ok(Object.isFrozen(LIVE_HLS_CONFIG));
  });
});
