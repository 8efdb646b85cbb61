"""The frame clock: one thread that decides which frames of which sessions are rendered next.

Live sessions own frame slots on a shared grid (``k / fps`` seconds since a common epoch), so every live session at
the same fps is due at the same instant and one render call serves them all. Each slot is filled with speech when it
is ready and with idle otherwise: the stream never starves. Event sessions get the time left between live ticks,
as many frames as their encoder queue takes.
"""

from __future__ import annotations

import logging
import math
import threading
import time

import numpy as np

from app import metrics
from app.inference.agent import InferenceAgent
from app.sessions.session import FrameBatch, Session

__all__ = ["FrameClock"]

log = logging.getLogger(__name__)

#: A live session that fell behind renders at most this many frames per tick: a backlog drains over a few short
#: ticks, so every session's segments keep completing, instead of one long render that holds them all back (p95
#: latency at 12 sessions went from 0.62-0.79 s with 16 to 0.57 s with 4).
_MAX_CATCH_UP = 4
#: Frames past a segment's end that ffmpeg needs before it lists the segment (the next keyframe, and the audio
#: that the AAC encoder holds back).
_CLOSE_FRAMES = 2
#: Frames of one event session per render call.
_EVENT_BATCH = 25
#: ... while live sessions are waiting for their next tick.
_EVENT_BATCH_SHARED = 2


class FrameClock:
    """Paces live sessions to the wall clock and feeds event sessions as fast as possible."""

    def __init__(self, agent: InferenceAgent) -> None:
        self._agent = agent
        self._sessions: dict[str, Session] = {}
        self._cond = threading.Condition()
        self._epoch = time.monotonic()
        self._running = False
        self._thread: threading.Thread | None = None
        self.ticks = 0
        self.batch_sizes: list[int] = []

    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._run, name="frame-clock", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def add(self, session: Session) -> None:
        """Start clocking a session.

        A live session starts with a head start: its first segment (plus the frames ffmpeg needs to close it) is
        due at once, so a player has something to load right after init instead of one segment duration later.
        From then on the stream runs that constant lead ahead of the wall clock, slot by slot on the shared grid.
        The lead adds no latency: speech goes into the next free slot, which is rendered as soon as it is due.
        """
        if session.live:
            period = 1.0 / session.params.fps
            grid = self._epoch + math.ceil((time.monotonic() - self._epoch) / period) * period
            session.next_due = grid - (session.segment_frames + _CLOSE_FRAMES) * period
        session.wake = self.wake
        with self._cond:
            self._sessions[session.id] = session
            self._cond.notify()

    def remove(self, session: Session) -> None:
        with self._cond:
            self._sessions.pop(session.id, None)

    def wake(self) -> None:
        """New work (a feed arrived): re-plan now instead of at the next tick."""
        with self._cond:
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._running:
                    return
                sessions = list(self._sessions.values())
            batches = self._collect(sessions, time.monotonic())
            if batches:
                self._render(batches)
                continue
            wait = self._next_deadline(sessions) - time.monotonic()
            if wait > 0:
                with self._cond:
                    if self._running:
                        self._cond.wait(timeout=min(wait, 0.1))

    def _collect(self, sessions: list[Session], now: float) -> list[FrameBatch]:
        batches: list[FrameBatch] = []
        for s in sessions:
            if s.live:
                period = 1.0 / s.params.fps
                due = min(_MAX_CATCH_UP, int((now - s.next_due) / period) + 1) if now >= s.next_due else 0
                if due:
                    batch = self._take(s, due)
                    if batch is not None:
                        s.next_due += len(batch.rows) * period
                        batches.append(batch)
                    elif not s.open:
                        s.next_due = math.inf
        if not batches:  # event sessions use the time between live ticks, in small batches when live ones wait
            size = _EVENT_BATCH_SHARED if any(s.live and s.open for s in sessions) else _EVENT_BATCH
            for s in sessions:
                if not s.live:
                    batch = self._take(s, size)
                    if batch is not None:
                        batches.append(batch)
        return batches

    def _take(self, session: Session, slots: int) -> FrameBatch | None:
        try:
            return session.take_frames(slots)
        except Exception as exc:  # a broken session fails alone
            log.exception("session %s: taking frames failed", session.id, extra={"session_id": session.id})
            session.fail(f"motion generation failed: {exc}")
            return None

    def _render(self, batches: list[FrameBatch]) -> None:
        faces = [b.session.face for b in batches for _ in range(len(b.rows))]
        tokens = np.concatenate([b.rows for b in batches])
        self.ticks += 1
        self.batch_sizes.append(len(faces))
        if len(self.batch_sizes) > 1000:
            del self.batch_sizes[:500]
        metrics.RENDER_BATCH.observe(len(faces))
        try:
            with metrics.RENDER_SECONDS.time():
                frames = self._agent.render(faces, tokens)
        except Exception as exc:
            if len(batches) > 1:  # find the culprit: each session's frames alone, so only a broken session fails
                for b in batches:
                    self._render([b])
                return
            log.exception("render failed", extra={"session_id": batches[0].session.id})
            batches[0].session.fail(f"rendering failed: {exc}")
            return
        start = 0
        for b in batches:
            n = len(b.rows)
            try:
                b.session.deliver(b, frames[start : start + n])
            except Exception as exc:
                log.exception("session %s: frame delivery failed", b.session.id, extra={"session_id": b.session.id})
                b.session.fail(f"encoding failed: {exc}")
            start += n

    def _next_deadline(self, sessions: list[Session]) -> float:
        deadline = time.monotonic() + 0.1
        for s in sessions:
            if s.live and s.open:
                deadline = min(deadline, s.next_due)
        return deadline
