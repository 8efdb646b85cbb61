// A small in-process HTTP server for the client tests: records every request (with its body bytes) and answers
// through a handler the test sets.
import { createServer } from 'node:http';

export class RecordingServer {
  constructor() {
    this.requests = [];
    this.inFlight = 0;
    this.maxInFlight = 0;
    this.handler = () => json(200, { status: 'success' });
    this.server = createServer((req, res) => this._serve(req, res));
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  async _serve(req, res) {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const url = new URL(req.url, this.url);
    const recorded = { method: req.method, url, path: url.pathname, query: url.searchParams, headers: req.headers,
      body: Buffer.concat(chunks) };
    this.requests.push(recorded);
    try {
      const answer = await this.handler(recorded, this.requests.length - 1);
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    } finally {
      this.inFlight--;
    }
  }
}

export function json(status, body, headers = {}) {
  return { status, body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', ...headers } };
}

export function errorBody(status, code, message, headers = {}) {
  return json(status, { status: 'error', error: { code, message } }, headers);
}

/** The multipart form of a recorded request, parsed by undici. */
export async function formOf(recorded) {
  const request = new Request('http://x/', { method: 'POST', body: recorded.body,
    headers: { 'content-type': recorded.headers['content-type'] } });
  return request.formData();
}

export const INIT_ANSWER = {
  status: 'success',
  session_id: 'sess_12345678',
  hls_url: '/hls/sess_12345678/index.m3u8',
  status_url: '/api/audio-driven/chunked/status/sess_12345678',
  message: 'session created',
  mode: 'live',
  params: { audio_sample_rate: 24000, fps: 25, chunk_duration: 1.0 },
  created_at: '2026-01-01T00:00:00+00:00',
};

export function feedAnswer(extra = {}) {
  return json(200, { status: 'success', session_id: 'sess_12345678', buffer_samples: 0, frames_generated: 0,
    session_status: 'processing', accepted_seconds: 0.5, total_audio_seconds: 0.5, buffered_seconds: 0.5,
    segments_written: 0, is_final: false, ...extra });
}

export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
