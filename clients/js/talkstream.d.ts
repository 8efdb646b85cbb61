// Type declarations of talkstream.js (hand-written; the module has no build step).

export declare const API_PREFIX: '/api/audio-driven/chunked';

/** hls.js settings for live low-latency playback of ffmpeg-written (non-LL) HLS. */
export declare const LIVE_HLS_CONFIG: Readonly<{
  lowLatencyMode: true;
  liveSyncDuration: number;
  liveMaxLatencyDuration: number;
  maxLiveSyncPlaybackRate: number;
  backBufferLength: number;
  enableWorker: boolean;
}>;

export type SessionState = 'waiting' | 'processing' | 'complete' | 'error' | 'closed';
export type SessionMode = 'live' | 'event';

/** An API failure. `status` is 0 when the server could not be reached or for playback errors. */
export declare class TalkstreamError extends Error {
  constructor(
    status: number,
    code: string,
    message: string,
    options?: { retryAfter?: number | null; body?: unknown; cause?: unknown },
  );
  readonly name: 'TalkstreamError';
  /** HTTP status; 0 for network and playback errors. */
  status: number;
  /** `code` of the JSON error body (`not_found`, `queue_full`, ...), `http_error`, `network_error`, `hls_...`. */
  code: string;
  /** Seconds from the Retry-After header, when present. */
  retryAfter: number | null;
  /** The parsed JSON body, when there was one. */
  body: unknown;
  /** Playback errors: the hls.js error data or the MediaError. */
  detail?: unknown;
}

export interface InitParams {
  /** Face image; the server's default face when absent. */
  image?: Blob | File | null;
  sessionId?: string;
  session_id?: string;
  crop?: boolean;
  seed?: number;
  nfe?: number;
  cfgScale?: number;
  cfg_scale?: number;
  /** Analysis window in seconds (0.1-10). */
  chunkDuration?: number;
  chunk_duration?: number;
  /** Rate of raw PCM feeds that give no sample rate. */
  audioSampleRate?: number;
  audio_sample_rate?: number;
  sampleRate?: number;
  /** [pitch, yaw, roll] degrees. */
  poseStyle?: [number, number, number];
  pose_style?: [number, number, number];
  /** [x, y], -1..1. */
  gazeStyle?: [number, number];
  gaze_style?: [number, number];
  mode?: SessionMode;
  fps?: number;
  liveliness?: number;
  [field: string]: unknown;
}

export interface InitResponse {
  status: 'success';
  session_id: string;
  hls_url: string;
  /** When the server signs HLS URLs: the ISO-8601 time `hls_url` stops working (/status gives a fresh one). */
  hls_url_expires_at?: string | null;
  status_url: string;
  message: string;
  mode: SessionMode;
  params: Record<string, unknown> & { audio_sample_rate?: number; fps?: number; chunk_duration?: number };
  created_at: string;
}

export interface FeedResponse {
  status: 'success';
  session_id: string;
  buffer_samples: number;
  frames_generated: number;
  session_status: SessionState;
  accepted_seconds: number;
  total_audio_seconds: number;
  buffered_seconds: number;
  segments_written: number;
  is_final: boolean;
}

export interface StatusResponse {
  session_id: string;
  status: SessionState;
  total_frames_generated: number;
  buffer_samples: number;
  speech_frames: number;
  idle_frames: number;
  audio_seconds_received: number;
  buffered_seconds: number;
  segments_written: number;
  uptime_seconds: number;
  last_activity: string;
  last_error: string | null;
  mode: SessionMode;
  hls_url: string;
  hls_url_expires_at?: string | null;
  params: Record<string, unknown>;
  latency: { count: number; p50: number | null; p95: number | null };
  face: { detector: string; faces_found: number; notes: string | string[] | null };
  model: { name: string; unused_params: string[] };
  [field: string]: unknown;
}

export interface InterruptResponse {
  status: 'success';
  session_id: string;
  dropped_seconds: number;
}

export interface DeleteResponse {
  status: 'success';
  message: string;
}

/** Float32Array → f32le; Int16Array → s16le; ArrayBuffer/Uint8Array → raw s16le bytes; Blob → multipart /feed. */
export type AudioChunk = Float32Array | Int16Array | ArrayBuffer | Uint8Array | Blob | null;

export interface FeedOptions {
  /** Hz of raw PCM; default: the session's audio_sample_rate. Ignored for Blobs (their container says). */
  sampleRate?: number;
  /** Last chunk: the stream ends once everything is written. */
  isFinal?: boolean;
  signal?: AbortSignal;
}

export interface ClientOptions {
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string | null;
  fetch?: typeof fetch;
  /** How many times a 429 answer is retried (default 5). */
  maxRetries?: number;
  /** Longest wait before a retry, whatever Retry-After says (default 30000). */
  maxRetryDelayMs?: number;
  /** Used to wait before retries and between polls (tests pass a fake). */
  sleep?: (ms: number) => Promise<void>;
}

export declare class Session {
  constructor(client: TalkstreamClient, info: InitResponse);
  readonly client: TalkstreamClient;
  readonly info: InitResponse;
  readonly id: string;
  readonly mode: SessionMode;
  readonly params: InitResponse['params'];
  /** Absolute URL of the HLS playlist. */
  readonly hlsUrl: string;
  readonly statusUrl: string;
  feedAudioChunk(audio: AudioChunk, options?: FeedOptions): Promise<FeedResponse>;
  getStatus(): Promise<StatusResponse>;
  interrupt(): Promise<InterruptResponse>;
  close(): Promise<DeleteResponse>;
  /** Resolves once the first HLS segment is listed (polls /status). */
  waitForStream(options?: { timeoutMs?: number; intervalMs?: number }): Promise<StatusResponse>;
}

export declare class TalkstreamClient {
  /** `baseUrl` "" means the page's own origin; a path prefix in it is kept for every call. */
  constructor(baseUrl?: string, options?: ClientOptions);
  readonly baseUrl: string;
  apiKey: string | null;
  maxRetries: number;
  maxRetryDelayMs: number;
  sleep: (ms: number) => Promise<void>;
  url(path: string): string;
  initSession(params?: InitParams): Promise<Session>;
  /** Feeds of one session are sent one at a time, in call order. */
  feedAudioChunk(session: Session, audio: AudioChunk, options?: FeedOptions): Promise<FeedResponse>;
  getStatus(session: Session | string): Promise<StatusResponse>;
  interrupt(session: Session | string): Promise<InterruptResponse>;
  close(session: Session | string): Promise<DeleteResponse>;
  request<T = unknown>(
    method: string,
    path: string,
    options?: { body?: BodyInit | (() => BodyInit); signal?: AbortSignal },
  ): Promise<T>;
}

export declare function initSession(baseUrl: string, options?: InitParams & ClientOptions): Promise<Session>;
export declare function feedAudioChunk(session: Session, audio: AudioChunk, options?: FeedOptions): Promise<FeedResponse>;
export declare function getStatus(session: Session): Promise<StatusResponse>;
export declare function interrupt(session: Session): Promise<InterruptResponse>;
export declare function close(session: Session): Promise<DeleteResponse>;

/** The subset of the hls.js class that attachPlayer uses. */
export interface HlsConstructor {
  new (config?: Record<string, unknown>): HlsInstance;
  isSupported(): boolean;
  Events: { ERROR: string; MANIFEST_PARSED: string; [name: string]: string };
  ErrorTypes?: { MEDIA_ERROR: string; NETWORK_ERROR: string; [name: string]: string };
}

export interface HlsInstance {
  loadSource(url: string): void;
  attachMedia(media: HTMLMediaElement): void;
  on(event: string, listener: (event: string, data: any) => void): void;
  recoverMediaError(): void;
  destroy(): void;
  readonly latency: number;
}

export interface PlayerOptions {
  /** The hls.js class (default: globalThis.Hls). */
  Hls?: HlsConstructor | null;
  /** Overrides of LIVE_HLS_CONFIG (e.g. `{startPosition: 0}` for event-mode sessions). */
  hlsConfig?: Record<string, unknown>;
  onError?: ((error: TalkstreamError) => void) | null;
  /** Call video.play() once the playlist is parsed (default true; mute the video to autoplay without a gesture). */
  autoplay?: boolean;
}

export interface PlayerHandle {
  /** The hls.js instance, or null with native HLS. */
  hls: HlsInstance | null;
  native: boolean;
  destroyed: boolean;
  /** Called with fatal playback errors; may be replaced at any time. */
  onError: ((error: TalkstreamError) => void) | null;
  /** Seconds behind the live edge, when known. */
  latency(): number | null;
  destroy(): void;
}

/** hls.js when `Hls.isSupported()`, native HLS as the fallback; throws TalkstreamError('unsupported') otherwise. */
export declare function attachPlayer(video: HTMLVideoElement, hlsUrl: string, options?: PlayerOptions): PlayerHandle;

export interface MicrophoneOptions {
  /** Seconds per fed chunk (default 0.5). */
  chunkSeconds?: number;
  /** Capture this stream instead of calling getUserMedia. */
  stream?: MediaStream;
  audioContext?: AudioContext;
  /** URL of mic-worklet.js (default: beside talkstream.js). */
  workletUrl?: string | URL;
  constraints?: MediaTrackConstraints;
  onChunk?: (chunk: { samples: Float32Array; sampleRate: number; response: FeedResponse }) => void;
  onError?: (error: unknown) => void;
}

export interface MicrophoneHandle {
  audioContext: AudioContext;
  stream: MediaStream;
  sampleRate: number;
  /** Feeds the last partial chunk (final: end the stream) and resolves when every chunk was answered. */
  stop(options?: { final?: boolean }): Promise<void>;
}

export declare function startMicrophone(session: Session, options?: MicrophoneOptions): Promise<MicrophoneHandle>;

/** Little-endian bytes of a PCM chunk (only the view's own bytes) and its wire format. */
export declare function pcmBytes(audio: Float32Array | Int16Array | ArrayBuffer | Uint8Array | null): {
  bytes: Uint8Array;
  format: 's16le' | 'f32le';
};

/** Retry-After as seconds (number or HTTP date), or null. */
export declare function parseRetryAfter(value: string | null): number | null;
