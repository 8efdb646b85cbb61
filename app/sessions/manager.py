"""SessionManager: creates and removes sessions, enforces limits, sweeps inactive ones, watches playlists."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import shutil
import time
from pathlib import Path

from app import metrics
from app.config import Settings
from app.hls.encoder import Encoder, EncoderConfig
from app.inference.agent import InferenceAgent
from app.inference.model import FaceNotFoundError, Frame, ImageError, MotionOptions
from app.sessions.clock import FrameClock
from app.sessions.errors import (
    BadParameterError,
    NoFaceError,
    SessionExistsError,
    SessionLimitError,
    SessionNotFoundError,
)
from app.sessions.image import ImageDecodeError, load_image
from app.sessions.session import Session, SessionParams, State

__all__ = ["SESSION_ID_PATTERN", "SessionManager"]

log = logging.getLogger(__name__)

SESSION_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
_SESSION_ID = re.compile(SESSION_ID_PATTERN)
_WATCH_INTERVAL = 0.04


class SessionManager:
    """Owns every session. ``start``/``aclose`` run the background tasks (sweep, playlist watcher) and the clock."""

    def __init__(self, settings: Settings, agent: InferenceAgent, default_face: Frame) -> None:
        self.settings = settings
        self.agent = agent
        self.clock = FrameClock(agent)
        self._default_face = default_face
        self._sessions: dict[str, Session] = {}
        self._creating: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.settings.hls_root.mkdir(parents=True, exist_ok=True)
        self.clock.start()
        metrics.SESSIONS.track(self.session_states)
        for coro in (self._sweep_loop(), self._watch_loop()):
            task = asyncio.create_task(coro)
            self._tasks.add(task)

    async def aclose(self) -> None:
        """Stop background tasks, close every session and remove its files."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for session_id in list(self._sessions):
            await self.delete(session_id, "closed at shutdown")
        self.clock.close()
        metrics.SESSIONS.untrack(self.session_states)

    # -- sessions --------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._sessions)

    def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    def session_states(self) -> list[str]:
        """The state of every session (for the ``talkstream_sessions`` gauge, read at scrape time)."""
        return [s.state.value for s in self.sessions() if s.state is not State.CLOSED]

    def get(self, session_id: str) -> Session:
        """The session, or :class:`SessionNotFoundError`."""
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionNotFoundError(f"session {session_id!r} not found")
        return session

    async def create(self, params: SessionParams, image: bytes | None, session_id: str | None = None) -> Session:
        """Analyse the face once, start the encoder and clock the new session."""
        session_id = self._claim_id(session_id)
        try:
            face_image = (
                await asyncio.to_thread(load_image, image, self.settings.max_image_pixels)
                if image is not None
                else self._default_face
            )
            try:
                face = await asyncio.to_thread(
                    self.agent.prepare_face, face_image, params.crop, self.settings.output_size
                )
            except FaceNotFoundError as exc:
                raise NoFaceError(str(exc)) from exc
            except ImageError as exc:
                raise ImageDecodeError(str(exc)) from exc
            options = MotionOptions(
                fps=params.fps,
                seed=params.seed,
                pose_offset=params.pose_style,
                gaze_offset=params.gaze_style,
                liveliness=params.liveliness,
                nfe=params.nfe,
                cfg_scale=params.cfg_scale,
            )
            motion = self.agent.motion(face, options)
            width, height = face.size
            cfg = EncoderConfig(
                width=width,
                height=height,
                fps=params.fps,
                segment_frames=self.settings.segment_frames(params.fps, live=params.mode == "live"),
                playlist="event" if params.mode == "event" else self.settings.playlist_type,
                list_size=self.settings.hls_list_size,
                sample_rate=self.settings.audio_sample_rate_out,
                audio_bitrate=self.settings.audio_bitrate,
                preset=self.settings.x264_preset,
                crf=self.settings.x264_crf,
                threads=1,  # one x264 thread: as fast for one event session, and live encoders share the cores
                nice=self.settings.encoder_nice,
                stamp_clock=self.settings.stamp_clock,
            )
            directory = self.settings.hls_root / session_id
            encoder = await asyncio.to_thread(_start_encoder, cfg, directory, session_id, params.fps)
            session = Session(
                session_id,
                params,
                face,
                motion,
                encoder,
                max_queued_seconds=self.settings.max_queued_seconds,
                max_chunk_seconds=self.settings.max_chunk_seconds,
                overlap=self.settings.overlap,
            )
            encoder.on_exit = lambda error: self._encoder_exited(session, error)
            self._sessions[session_id] = session
        finally:
            self._creating.discard(session_id)
        self.clock.add(session)
        log.info("session %s created: %s mode, %d fps, face by %s", session_id, params.mode, params.fps,
                 face.info.detector, extra={"session_id": session_id})  # fmt: skip
        return session

    def _encoder_exited(self, session: Session, error: str | None) -> None:
        """From the encoder's writer thread, once per session: settle and log how it ended."""
        session.on_encoder_exit(error)
        extra = {"session_id": session.id}
        if session.state is State.COMPLETE:
            metrics.SESSIONS_FINISHED.labels("complete").inc()
            log.info("session %s complete: %d frames written, %d of speech", session.id, session.frames_out,
                     session.speech_frames, extra=extra)  # fmt: skip
        elif session.state is State.ERROR:
            metrics.SESSIONS_FINISHED.labels("error").inc()
            log.warning("session %s failed: %s", session.id, session.last_error, extra=extra)

    def _claim_id(self, session_id: str | None) -> str:
        if len(self._sessions) + len(self._creating) >= self.settings.max_sessions:
            raise SessionLimitError(
                f"the server already runs {self.settings.max_sessions} sessions (TALKSTREAM_MAX_SESSIONS); "
                "close one or retry later"
            )
        if session_id is None:
            session_id = _new_id()
        elif not _SESSION_ID.match(session_id):
            raise BadParameterError("session_id must be 8-64 characters of letters, digits, '-' or '_'")
        if session_id in self._sessions or session_id in self._creating:
            raise SessionExistsError(f"session {session_id!r} already exists")
        self._creating.add(session_id)
        return session_id

    async def delete(self, session_id: str, reason: str = "deleted") -> None:
        """Stop the session and remove its files; unknown ids raise :class:`SessionNotFoundError`."""
        session = self._sessions.pop(session_id, None)
        if session is None:
            raise SessionNotFoundError(f"session {session_id!r} not found")
        state = session.state.value
        self.clock.remove(session)
        await asyncio.to_thread(_close_and_remove, session)
        log.info("session %s %s (was %s), files removed", session_id, reason, state, extra={"session_id": session_id})

    def schedule_flush(self, session: Session) -> None:
        """Live mode: after a feed, process a partial window if no more audio comes for ``flush_after``."""
        if not session.live:
            return
        if session.flush_task is not None:
            session.flush_task.cancel()
        session.flush_task = asyncio.create_task(self._flush_later(session))

    async def _flush_later(self, session: Session) -> None:
        quiet = session.quiet_period(self.settings.flush_after)
        await asyncio.sleep(quiet)
        await session.flush_if_quiet(quiet)

    # -- background loops ------------------------------------------------------------------------------------------
    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            await self.sweep()

    async def sweep(self) -> list[str]:
        """Remove sessions idle past the inactivity timeout and finished ones past their linger time."""
        now = time.monotonic()
        expired: dict[str, str] = {}
        for s in self.sessions():
            if s.finished_at is not None and now - s.finished_at > self.settings.finished_linger:
                expired[s.id] = f"expired ({now - s.finished_at:.0f} s after it ended)"
            elif now - s.last_activity > self.settings.inactivity_timeout:
                expired[s.id] = f"expired ({now - s.last_activity:.0f} s without activity)"
        for session_id, reason in expired.items():
            with contextlib.suppress(SessionNotFoundError):
                await self.delete(session_id, reason)
        return list(expired)

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(_WATCH_INTERVAL)
            sessions = [s for s in self.sessions() if s.state is not State.CLOSED]
            if sessions:
                try:
                    await asyncio.to_thread(_refresh_all, sessions)
                except Exception:  # pragma: no cover - keep watching whatever one read did
                    log.exception("playlist watch failed")


def _new_id() -> str:
    """128 random bits, URL-safe; never starting with '-' (command-line tools would read it as an option)."""
    while (session_id := secrets.token_urlsafe(16))[0] == "-":
        pass
    return session_id


def _start_encoder(cfg: EncoderConfig, directory: Path, session_id: str, fps: int) -> Encoder:
    return Encoder(cfg, directory, on_exit=lambda error: None, max_queue=2 * fps, name=session_id)


def _refresh_all(sessions: list[Session]) -> None:
    now = time.monotonic()
    for s in sessions:
        s.refresh_playlist(now)


def _close_and_remove(session: Session) -> None:
    session.close()
    shutil.rmtree(session.directory, ignore_errors=True)
