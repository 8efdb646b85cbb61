"""One session: state machine, ordered feeds, the speech queue, and the frames it hands to the frame clock."""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from app import metrics
from app.hls.encoder import PLAYLIST_NAME, Encoder
from app.hls.playlist import read_playlist
from app.inference.model import Frame, MotionModel, PreparedFace
from app.inference.tokens import N_TOKENS, TokenArray
from app.sessions.decode import DecodedAudio, PcmFormat, decode_container, decode_pcm
from app.sessions.errors import (
    AudioError,
    ModelError,
    QueueFullError,
    SessionClosedError,
    SessionError,
    SessionFinishedError,
)
from app.sessions.speech import SpeechPipeline

__all__ = ["AudioInput", "FeedResult", "FrameBatch", "Session", "SessionParams", "State"]

log = logging.getLogger(__name__)


class State(enum.StrEnum):
    """Session states. waiting → processing ⇄ waiting → complete; any → error; any → closed."""

    WAITING = "waiting"  # open, no speech pending (live mode plays idle frames)
    PROCESSING = "processing"  # speech queued or being rendered, or the final chunk is being written out
    COMPLETE = "complete"  # the final chunk has been written and the playlist ends with EXT-X-ENDLIST
    ERROR = "error"  # the session failed; ``last_error`` says why
    CLOSED = "closed"  # deleted or shut down; its files are gone


@dataclass(frozen=True)
class SessionParams:
    """Effective parameters of a session (reported back to the client)."""

    mode: Literal["live", "event"] = "live"
    fps: int = 25
    chunk_duration: float = 1.0
    audio_sample_rate: int = 24_000
    crop: bool = True
    seed: int = 42
    nfe: int = 10
    cfg_scale: float = 2.0
    pose_style: tuple[float, float, float] = (0.0, 0.0, 0.0)
    gaze_style: tuple[float, float] = (0.0, 0.0)
    liveliness: float = 1.0

    def public(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class AudioInput:
    """Fed audio before decoding: a container file, or raw PCM with its description."""

    data: bytes
    raw: bool = False
    sample_rate: int = 24_000
    fmt: PcmFormat = "s16le"
    channels: int = 1

    def decode(self, max_seconds: float) -> DecodedAudio:
        """Decode to mono float32; a container stops decoding past ``max_seconds`` (checked by the caller)."""
        if self.raw:
            return decode_pcm(self.data, self.sample_rate, self.fmt, self.channels)
        return decode_container(self.data, max_seconds=max_seconds + 1.0)


@dataclass(frozen=True)
class FeedResult:
    """What one feed did, and where the session stands."""

    accepted_seconds: float
    total_audio_seconds: float
    buffered_seconds: float
    buffer_samples: int
    frames_generated: int
    segments_written: int
    session_status: State
    is_final: bool


@dataclass
class FrameBatch:
    """Frames a session hands to the clock: complete token rows plus one audio slice per row."""

    session: Session
    rows: TokenArray
    audio: npt.NDArray[np.float32]
    speaking: npt.NDArray[np.bool_]


@dataclass
class _Stats:
    speech_frames: int = 0
    idle_frames: int = 0
    segments: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=1000))


class Session:
    """A live or event stream for one face. Feeds are applied in arrival order (an asyncio lock taken on arrival,
    the work done in a thread); the frame clock pulls frames with :meth:`take_frames` and pushes the rendered
    frames with :meth:`deliver`."""

    def __init__(
        self,
        session_id: str,
        params: SessionParams,
        face: PreparedFace,
        motion: MotionModel,
        encoder: Encoder,
        max_queued_seconds: float,
        max_chunk_seconds: float,
        overlap: float,
    ) -> None:
        self.id = session_id
        self.params = params
        self.face = face
        self.encoder = encoder
        self.directory: Path = encoder.out_dir
        self.created_at = datetime.now(UTC)
        self.started = time.monotonic()
        self.last_activity = time.monotonic()
        self.last_error: str | None = None
        self.state = State.WAITING
        self.final_received = False
        self.finished_at: float | None = None  # monotonic time it reached complete/error
        self.segment_frames = encoder.cfg.segment_frames
        self._motion = motion
        self._speech = SpeechPipeline(motion, params.fps, params.chunk_duration, overlap, encoder.cfg.sample_rate)
        self._max_queued = max_queued_seconds
        self._max_chunk = max_chunk_seconds
        self._feed_lock = asyncio.Lock()
        self._state_lock = threading.Lock()
        self._stats = _Stats()
        self._frames_out = 0  # frames handed to the encoder (speech + idle)
        self._pending_arrivals: deque[tuple[int, float]] = deque()  # (output frame index, arrival time)
        self._silence = np.zeros(self._speech.samples_per_frame, dtype=np.float32)
        self._feed_times: deque[float] = deque(maxlen=9)  # arrival times of recent feeds (utterance-end timing)
        self.next_due = 0.0  # live mode: monotonic time of the next frame slot (set by the clock)
        self.flush_task: asyncio.Task[None] | None = None
        self.wake: Callable[[], None] = lambda: None  # set by the manager: tells the frame clock there is work

    # -- properties ------------------------------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        return self.params.mode == "live"

    @property
    def playlist(self) -> Path:
        return self.directory / PLAYLIST_NAME

    @property
    def open(self) -> bool:
        return self.state in (State.WAITING, State.PROCESSING)

    @property
    def frames_out(self) -> int:
        return self._frames_out

    @property
    def speech_frames(self) -> int:
        return self._speech.total_frames

    # -- feed path (event loop + worker thread) --------------------------------------------------------------------
    async def feed(self, audio: AudioInput, final: bool) -> FeedResult:
        """Apply one chunk in arrival order: decode, queue for analysis; ``final`` ends the stream."""
        arrived = time.monotonic()
        async with self._feed_lock:
            self._check_accepting()
            return await asyncio.to_thread(self._apply, audio, final, arrived)

    def _check_accepting(self) -> None:
        if self.final_received:
            raise SessionFinishedError(f"session {self.id} already received its final chunk")
        if not self.open:
            raise SessionClosedError(f"session {self.id} is {self.state.value}: {self.last_error or 'no more audio'}")
        queued = self._speech.queued_seconds
        if queued >= self._max_queued:
            wait = max(0.5, queued - self._max_queued + 0.5)
            raise QueueFullError(
                f"{queued:.1f} s of speech are queued (limit {self._max_queued:.1f} s); retry in {wait:.1f} s", wait
            )

    def _apply(self, audio: AudioInput, final: bool, arrived: float) -> FeedResult:
        decoded = audio.decode(self._max_chunk) if audio.data or not final else None
        if decoded is not None and decoded.samples.size == 0:
            if not final:
                raise AudioError("the audio chunk holds no samples")
            decoded = None  # an empty final chunk only ends the stream
        if decoded is not None and decoded.seconds > self._max_chunk:
            raise AudioError(f"the chunk is {decoded.seconds:.1f} s long; the limit is {self._max_chunk:.1f} s")
        self.last_activity = time.monotonic()
        with self._model_guard("analysing audio"):
            if decoded is not None:
                self._feed_times.append(arrived)
                self._speech.push(decoded, arrived, eager=self.live)
            if final:
                self._speech.finalize()
        with self._state_lock:
            if decoded is not None or final:
                self._set_state(State.PROCESSING)
            self.final_received = final  # only now: the clock may finish the stream once this is set
        self.wake()
        return self.feed_result(decoded.seconds if decoded else 0.0, final)

    def quiet_period(self, minimum: float) -> float:
        """How long without feeds ends an utterance: at least ``minimum``, and longer than this client's usual gap
        between feeds (a client sending 0.5 s chunks at real time must not be cut every chunk), at most 2 s."""
        gaps = np.diff(np.asarray(self._feed_times))
        usual = float(np.median(gaps)) if len(gaps) else 0.0
        return min(max(minimum, 1.5 * usual), max(minimum, 2.0))

    async def flush_if_quiet(self, quiet_for: float) -> None:
        """Live mode: process a partial window when no feed came for ``quiet_for`` seconds (end of utterance)."""
        async with self._feed_lock:
            if self.open and not self.final_received and time.monotonic() - self.last_activity >= quiet_for:
                with self._model_guard("analysing audio"):
                    await asyncio.to_thread(self._speech.flush)
                self.wake()

    async def interrupt(self) -> float:
        """Drop queued speech and return to idle (barge-in); returns the seconds dropped."""
        async with self._feed_lock:
            if not self.open:
                raise SessionClosedError(f"session {self.id} is {self.state.value}")
            self.last_activity = time.monotonic()
            dropped = await asyncio.to_thread(self._speech.clear)
            with self._state_lock:
                self._pending_arrivals.clear()
                if self.live:
                    self._set_state(State.WAITING)
            self.wake()
            return dropped

    def feed_result(self, accepted: float, final: bool) -> FeedResult:
        return FeedResult(
            accepted_seconds=round(accepted, 6),
            total_audio_seconds=round(self._speech.total_seconds, 6),
            buffered_seconds=round(self._speech.queued_seconds, 6),
            buffer_samples=self._speech.pending_samples,
            frames_generated=self._speech.total_frames,
            segments_written=self._stats.segments,
            session_status=self.state,
            is_final=final,
        )

    # -- clock side (frame-clock thread) ---------------------------------------------------------------------------
    def take_frames(self, slots: int) -> FrameBatch | None:
        """Up to ``slots`` frames for the clock: speech when ready; in live mode idle frames fill the rest."""
        slots = min(slots, self.encoder.room)
        if slots <= 0 or not self.open:
            return None
        speech = self._speech.take(slots)
        n_speech = len(speech.rows)
        n = slots if self.live and not self.final_received else n_speech
        if n == 0:
            self._maybe_finish()
            return None
        rows = np.zeros((n, N_TOKENS), dtype=np.float32)
        rows[:n_speech] = speech.rows
        speaking = np.zeros(n, dtype=bool)
        speaking[:n_speech] = True
        audio = speech.audio
        if n > n_speech:
            audio = np.concatenate([audio, np.tile(self._silence, n - n_speech)])
        for offset, arrived in speech.arrivals:
            self._pending_arrivals.append((self._frames_out + offset, arrived))
        self._stats.speech_frames += n_speech
        self._stats.idle_frames += n - n_speech
        metrics.FRAMES.labels("speech").inc(n_speech)
        metrics.FRAMES.labels("idle").inc(n - n_speech)
        self._frames_out += n
        return FrameBatch(self, self._motion.animate(rows, speaking), audio, speaking)

    def deliver(self, batch: FrameBatch, frames: list[Frame]) -> None:
        """Hand rendered frames with their audio slices to the encoder."""
        spf = self._speech.samples_per_frame
        for i, frame in enumerate(frames):
            if not self.encoder.write(frame, batch.audio[i * spf : (i + 1) * spf]):
                if self.open:  # a stall the encoder did not report itself
                    metrics.ENCODER_FAILURES.inc()
                self.fail("the encoder stopped accepting frames (stalled or exited)")
                return
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        with self._state_lock:
            if self.state is not State.PROCESSING:
                return
            if self._speech.ready_frames or self._speech.has_pending:
                return
            if self.final_received:
                self.encoder.finish()  # ffmpeg writes the last segment and ENDLIST, then on_encoder_exit
            elif self.live:
                self._set_state(State.WAITING)

    def on_encoder_exit(self, error: str | None) -> None:
        """Called from the encoder's writer thread when ffmpeg has exited."""
        with self._state_lock:
            if self.state in (State.CLOSED, State.ERROR):  # deleted, or failed already: keep the first reason
                return
            if error or not self.final_received:
                metrics.ENCODER_FAILURES.inc()
                self.last_error = error or "the encoder stopped unexpectedly"
                self._set_state(State.ERROR)
            else:
                self._set_state(State.COMPLETE)
            self.finished_at = time.monotonic()

    @contextmanager
    def _model_guard(self, doing: str) -> Iterator[None]:
        """A model exception while ``doing`` something fails this session (only this one) and becomes a
        :class:`ModelError`: the model's state can no longer be trusted, so the session does not go on half-fed."""
        try:
            yield
        except SessionError:
            raise
        except Exception as exc:  # any model failure: this session ends, the server goes on
            message = f"the model failed {doing}: {type(exc).__name__}: {exc}"
            log.exception("session failed: %s", message, extra={"session_id": self.id})
            self.fail(message)
            raise ModelError(f"{message}; the session is now in error") from exc

    def fail(self, message: str) -> None:
        """Move to ``error`` (a background loop died or rendering failed) and stop the encoder."""
        with self._state_lock:
            if not self.open:
                return
            self.last_error = message
            self._set_state(State.ERROR)
            self.finished_at = time.monotonic()
        self.encoder.kill()

    def _set_state(self, state: State) -> None:
        if self.state in (State.COMPLETE, State.ERROR, State.CLOSED) and state is not State.CLOSED:
            return
        self.state = state

    # -- playlist watching (manager) -------------------------------------------------------------------------------
    def refresh_playlist(self, now: float) -> None:
        """Read the playlist: count segments and resolve latency of chunks whose first frame is now listed."""
        listed = read_playlist(self.playlist)
        self._stats.segments = listed.segments
        frames_listed = self._frames_out if listed.ended else listed.segments * self.segment_frames
        while self._pending_arrivals and self._pending_arrivals[0][0] < frames_listed:
            _, arrived = self._pending_arrivals.popleft()
            self._stats.latencies.append(now - arrived)
            metrics.LATENCY.observe(now - arrived)

    # -- status ----------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the encoder; the manager removes the files."""
        with self._state_lock:
            self.state = State.CLOSED
        if self.flush_task is not None:
            self.flush_task.cancel()
        self.encoder.kill()

    def status(self, model_name: str, unused_params: tuple[str, ...]) -> dict[str, Any]:
        """Everything ``/status`` reports."""
        lat = sorted(self._stats.latencies)
        info = self.face.info
        now = time.monotonic()
        return {
            "session_id": self.id,
            "status": self.state.value,
            "mode": self.params.mode,
            "total_frames_generated": self._speech.total_frames,
            "buffer_samples": self._speech.pending_samples,
            "speech_frames": self._stats.speech_frames,
            "idle_frames": self._stats.idle_frames,
            "frames_written": self._frames_out,
            "audio_seconds_received": round(self._speech.total_seconds, 6),
            "buffered_seconds": round(self._speech.queued_seconds, 6),
            "segments_written": self._stats.segments,
            "final_received": self.final_received,
            "uptime_seconds": round(now - self.started, 3),
            "last_activity": _iso(self.created_at, self.last_activity - self.started),
            "idle_seconds": round(now - self.last_activity, 3),
            "last_error": self.last_error,
            "params": self.params.public(),
            "latency": {
                "count": len(lat),
                "p50": round(_quantile(lat, 0.50), 4) if lat else None,
                "p95": round(_quantile(lat, 0.95), 4) if lat else None,
            },
            "face": {"detector": info.detector, "faces_found": info.faces_found, "notes": list(info.notes)},
            "model": {
                "name": model_name,
                "unused_params": list(unused_params),
                "note": f"{', '.join(unused_params)} are accepted for compatibility and unused by this model"
                if unused_params
                else None,
            },
        }


def _quantile(values: list[float], q: float) -> float:
    return float(np.quantile(np.asarray(values), q))


def _iso(start: datetime, offset: float) -> str:
    return datetime.fromtimestamp(start.timestamp() + offset, UTC).isoformat()
