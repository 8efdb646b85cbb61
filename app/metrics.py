"""Prometheus metrics (served at ``/metrics``). Plain module-level instruments: every layer may count into them."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ENCODER_FAILURES",
    "ERRORS",
    "FRAMES",
    "LATENCY",
    "RENDER_BATCH",
    "RENDER_SECONDS",
    "SESSIONS",
]

SESSIONS = Gauge("talkstream_sessions", "Open sessions by state.", ["state"])
FRAMES = Counter("talkstream_frames_total", "Frames written to streams.", ["kind"])  # kind: speech | idle
RENDER_BATCH = Histogram(
    "talkstream_render_batch_frames", "Frames per render call.", buckets=(1, 2, 4, 8, 12, 16, 24, 32, 48, 64)
)
RENDER_SECONDS = Histogram(
    "talkstream_render_seconds", "Wall time of one batched render call.",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64),
)  # fmt: skip
LATENCY = Histogram(
    "talkstream_feed_to_playlist_seconds",
    "From a fed chunk's arrival to its first frame being listed in the playlist.",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0),
)
ENCODER_FAILURES = Counter("talkstream_encoder_failures_total", "Encoder processes that died unexpectedly.")
ERRORS = Counter("talkstream_errors_total", "Error answers by code.", ["code"])
