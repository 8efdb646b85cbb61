"""Prometheus metrics (served at ``/metrics``). Plain module-level instruments: every layer may count into them."""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

__all__ = [
    "ENCODER_FAILURES",
    "ERRORS",
    "FRAMES",
    "LATENCY",
    "RENDER_BATCH",
    "RENDER_SECONDS",
    "SESSIONS",
    "SESSIONS_FINISHED",
    "SESSION_STATES",
]

SESSION_STATES = ("waiting", "processing", "complete", "error")


class _SessionStates:
    """``talkstream_sessions{state}``, counted at scrape time from every running session manager, so that it is
    right after every transition and every removal (no gauge to keep in step)."""

    name = "talkstream_sessions"
    documentation = "Sessions by state (deleted sessions are not counted)."

    def __init__(self) -> None:
        self._sources: set[Callable[[], Iterable[str]]] = set()
        self._lock = threading.Lock()

    def track(self, states: Callable[[], Iterable[str]]) -> None:
        """Count the states ``states()`` returns (one per session) at every scrape."""
        with self._lock:
            self._sources.add(states)

    def untrack(self, states: Callable[[], Iterable[str]]) -> None:
        with self._lock:
            self._sources.discard(states)

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self.name, self.documentation, labels=["state"])

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            sources = list(self._sources)
        counts = Tally(state for states in sources for state in states())
        family = GaugeMetricFamily(self.name, self.documentation, labels=["state"])
        for state in SESSION_STATES:
            family.add_metric([state], counts[state])
        yield family


SESSIONS = _SessionStates()
REGISTRY.register(SESSIONS)
SESSIONS_FINISHED = Counter(
    "talkstream_sessions_finished_total", "Sessions that ended, by outcome: complete or error.", ["state"]
)
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
ENCODER_FAILURES = Counter(
    "talkstream_encoder_failures_total",
    "Encoder (ffmpeg) processes that failed: exited with an error or unexpectedly, or stalled. They are not "
    "restarted: their session moves to error.",
)
ERRORS = Counter("talkstream_errors_total", "Error answers by code (API and /hls).", ["code"])
