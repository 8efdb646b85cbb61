"""``Client`` and ``AsyncClient``: open a session, feed speech audio in chunks, follow the session, close it."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import mimetypes
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import httpx
import numpy as np
import numpy.typing as npt

from talkstream_client.audio import chunk_bounds, encode_pcm, read_audio_file
from talkstream_client.errors import (
    NoSessionError,
    QueueFullError,
    SessionNotFoundError,
    TalkstreamConnectionError,
    TalkstreamError,
    error_from_response,
)

__all__ = [
    "API_PREFIX",
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "AsyncClient",
    "AudioSource",
    "Client",
    "ImageSource",
    "Mode",
    "ProgressCallback",
    "__version__",
]

API_PREFIX = "/api/audio-driven/chunked"
DEFAULT_URL = "http://127.0.0.1:9999"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
MAX_RETRY_WAIT = 60.0  # cap on one Retry-After wait, whatever the server asks


def _version() -> str:
    try:
        return importlib.metadata.version("talkstream-client")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"


__version__ = _version()

Mode = Literal["live", "event"]
ImageSource = str | os.PathLike[str] | bytes | None
"""A face image: a file path, the image file's bytes, or ``None`` for the server's default face."""
AudioSource = npt.NDArray[Any] | bytes | bytearray | memoryview | str | os.PathLike[str]
"""Audio to feed: a numpy array (float or int16; 2-D is ``(frames, channels)``), raw s16le bytes, or a file path."""
ProgressCallback = Callable[[float, float], None]
"""Called as ``progress(seconds_sent, total_seconds)`` after each chunk of :meth:`Client.stream_file`."""


@dataclass(frozen=True)
class _Request:
    """One API call, built once so that a 429 retry sends exactly the same request again."""

    method: str
    path: str
    params: dict[str, str] | None = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    content: bytes | None = None
    content_type: str | None = None

    def kwargs(self) -> dict[str, Any]:
        args: dict[str, Any] = {"method": self.method, "url": self.path}
        if self.params is not None:
            args["params"] = self.params
        if self.data is not None:
            args["data"] = self.data
        if self.files is not None:
            args["files"] = self.files
        if self.content is not None:
            args["content"] = self.content
            args["headers"] = {"Content-Type": self.content_type or "application/octet-stream"}
        return args


def _form_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return json.dumps([float(v) for v in value])
    return str(value)


def _is_path(value: object) -> bool:
    return isinstance(value, str | os.PathLike)


def _file_part(path: str | os.PathLike[str], fallback_type: str) -> tuple[str, bytes, str]:
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise TalkstreamError(f"cannot read {file}: {exc.strerror or exc}", code="file_error") from exc
    return file.name, data, mimetypes.guess_type(file.name)[0] or fallback_type


class _BaseClient:
    """State and request building shared by :class:`Client` and :class:`AsyncClient` (no I/O here)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_retries: int = 5,
        session_id: str | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._headers = {"User-Agent": f"talkstream-client/{__version__}"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._session_id = session_id
        self._hls_path: str | None = None
        self._sample_rate: int | None = None
        self._open = session_id is not None

    # -- session state ---------------------------------------------------------------------------------------------
    @property
    def session_id(self) -> str | None:
        """Id of the session this client works on (``None`` before :meth:`init_session`)."""
        return self._session_id

    @property
    def hls_url(self) -> str:
        """Absolute URL of the session's HLS playlist, for hls.js, Safari, ffplay or VLC.

        The URL the server returned from init or the latest status call (signed URLs expire; every status answer
        carries a fresh one). For a session attached by id, call status first when the server signs its URLs.
        """
        session_id = self._require_session()
        path = self._hls_path or f"/hls/{session_id}/index.m3u8"
        return f"{self.base_url}{path}"

    def detach(self) -> str | None:
        """Forget the session without closing it (leaving a ``with`` block then keeps it open); returns its id."""
        session_id, self._session_id, self._open = self._session_id, None, False
        self._hls_path = self._sample_rate = None
        return session_id

    def _require_session(self) -> str:
        if self._session_id is None:
            raise NoSessionError("no session: call init_session() first", code="no_session")
        return self._session_id

    def _note_hls_url(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("hls_url"):
            self._hls_path = str(body["hls_url"])
        return body

    def _remember(self, body: dict[str, Any]) -> None:
        self._session_id = str(body["session_id"])
        self._hls_path = str(body["hls_url"]) if body.get("hls_url") else None
        params = body.get("params")
        rate = params.get("audio_sample_rate") if isinstance(params, dict) else None
        self._sample_rate = int(rate) if isinstance(rate, int | float) else None
        self._open = True

    # -- requests --------------------------------------------------------------------------------------------------
    def _init_request(self, image: ImageSource, fields: dict[str, object]) -> _Request:
        data = {name: _form_value(value) for name, value in fields.items() if value is not None}
        files = None
        if isinstance(image, bytes):
            files = {"image": ("image", image, "application/octet-stream")}
        elif image is not None:
            files = {"image": _file_part(image, "application/octet-stream")}
        return _Request("POST", f"{API_PREFIX}/init", data=data, files=files)

    def _feed_request(self, audio: AudioSource, sample_rate: int | None, is_final: bool) -> _Request:
        session_id = self._require_session()
        if isinstance(audio, str | os.PathLike):
            return _Request(
                "POST",
                f"{API_PREFIX}/feed",
                data={"session_id": session_id, "is_final_chunk": _form_value(is_final)},
                files={"audio_chunk": _file_part(audio, "application/octet-stream")},
            )
        if isinstance(audio, bytes | bytearray | memoryview):
            body, fmt, channels = bytes(audio), "s16le", 1
        elif isinstance(audio, np.ndarray):
            pcm = encode_pcm(audio)
            body, fmt, channels = pcm.data, pcm.format, pcm.channels
        else:
            raise TypeError(f"unsupported audio type {type(audio).__name__}: use a numpy array, bytes or a path")
        params = {"format": fmt, "channels": str(channels), "is_final": _form_value(is_final)}
        rate = sample_rate if sample_rate is not None else self._sample_rate
        if rate is not None:  # else the server uses the session's audio_sample_rate
            params["sample_rate"] = str(int(rate))
        return _Request("POST", f"{API_PREFIX}/feed/{session_id}", params=params, content=body)

    def _session_request(self, method: str, action: str) -> _Request:
        return _Request(method, f"{API_PREFIX}/{action}/{self._require_session()}")

    # -- answers ---------------------------------------------------------------------------------------------------
    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON body of a 2xx answer; the typed error otherwise."""
        if not response.is_success:
            raise error_from_response(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise TalkstreamError(
                f"expected JSON from {response.request.url}, got {response.text[:200]!r}",
                status_code=response.status_code,
                code="invalid_response",
            ) from exc
        if not isinstance(body, dict):
            raise TalkstreamError(f"expected a JSON object, got {body!r}"[:300], status_code=response.status_code,
                                  code="invalid_response")  # fmt: skip
        return body

    def _retry_delay(self, error: QueueFullError, attempt: int) -> float | None:
        """Seconds to wait before resending after a 429, or ``None`` once ``max_retries`` are used up."""
        if attempt >= self.max_retries:
            return None
        return min(max(error.retry_after, 0.0), MAX_RETRY_WAIT)

    def _connection_error(self, request: _Request, exc: httpx.RequestError) -> TalkstreamConnectionError:
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            detail = f"timed out ({type(exc).__name__})"
        return TalkstreamConnectionError(f"{request.method} {self.base_url}{request.path} failed: {detail}",
                                         code="connection_error")  # fmt: skip

    @staticmethod
    def _init_fields(
        session_id: str | None,
        crop: bool | None,
        seed: int | None,
        nfe: int | None,
        cfg_scale: float | None,
        chunk_duration: float | None,
        audio_sample_rate: int | None,
        pose_style: Sequence[float] | None,
        gaze_style: Sequence[float] | None,
        mode: Mode | None,
        fps: int | None,
        liveliness: float | None,
    ) -> dict[str, object]:
        return {
            "session_id": session_id,
            "crop": crop,
            "seed": seed,
            "nfe": nfe,
            "cfg_scale": cfg_scale,
            "chunk_duration": chunk_duration,
            "audio_sample_rate": audio_sample_rate,
            "pose_style": None if pose_style is None else list(pose_style),
            "gaze_style": None if gaze_style is None else list(gaze_style),
            "mode": mode,
            "fps": fps,
            "liveliness": liveliness,
        }


def _check_finished(status: dict[str, Any]) -> bool:
    """True once the session is complete; raises when it failed or was closed."""
    state = status.get("status")
    if state == "complete":
        return True
    if state in ("error", "closed"):
        reason = status.get("last_error") or state
        message = f"session {status.get('session_id')} ended as {state}: {reason}"
        raise TalkstreamError(message, code=f"session_{state}")
    return False


class Client(_BaseClient):
    """Synchronous talkstream client (one session at a time).

    >>> client = Client("http://127.0.0.1:9999")
    >>> client.init_session("face.jpg", chunk_duration=1.0)      # doctest: +SKIP
    >>> client.feed_audio_chunk(chunk, sample_rate=24000)         # doctest: +SKIP
    >>> print(client.hls_url)                                     # doctest: +SKIP

    ``timeout`` defaults to 5 s to connect and 60 s to read. A 429 (speech queue full) is retried after the
    server's ``Retry-After`` up to ``max_retries`` times, then raised as :class:`QueueFullError`; nothing is applied
    on a 429, so resending (even a final chunk) is safe. Transport failures are not retried (a feed may have been
    applied) and raise :class:`TalkstreamConnectionError`. ``session_id`` attaches to an existing session, which
    then counts as this client's own (a ``with`` block closes it at the end unless :meth:`detach` is called).
    ``transport`` replaces the network layer (e.g. ``httpx.MockTransport`` in tests).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_retries: int = 5,
        session_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key=api_key, timeout=timeout, max_retries=max_retries, session_id=session_id)
        self._http = httpx.Client(base_url=self.base_url, headers=self._headers, timeout=self._timeout,
                                  transport=transport)  # fmt: skip

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._open:
                self.close()
        except SessionNotFoundError:
            pass  # already gone (expired or deleted elsewhere)
        except TalkstreamError:
            if exc is None:
                raise  # else keep the original exception visible
        finally:
            self.disconnect()

    def disconnect(self) -> None:
        """Close the HTTP connections. The session, if any, stays open on the server."""
        self._http.close()

    def _send(self, request: _Request) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                response = self._http.request(**request.kwargs())
            except httpx.RequestError as exc:
                raise self._connection_error(request, exc) from exc
            try:
                return self._answer(response)
            except QueueFullError as exc:
                delay = self._retry_delay(exc, attempt)
                if delay is None:
                    raise
            attempt += 1
            time.sleep(delay)

    def health(self) -> dict[str, Any]:
        """``GET /healthz``: ``{"status": "ok", "sessions": n, "model": name}``."""
        return self._send(_Request("GET", "/healthz"))

    def init_session(
        self,
        image: ImageSource = None,
        *,
        session_id: str | None = None,
        crop: bool | None = None,
        seed: int | None = None,
        nfe: int | None = None,
        cfg_scale: float | None = None,
        chunk_duration: float | None = None,
        audio_sample_rate: int | None = None,
        pose_style: Sequence[float] | None = None,
        gaze_style: Sequence[float] | None = None,
        mode: Mode | None = None,
        fps: int | None = None,
        liveliness: float | None = None,
    ) -> dict[str, Any]:
        """Open a session (``POST /init``) and make it this client's session; returns the server's JSON.

        ``image`` is a path, the image's bytes, or ``None`` for the server's default face. Parameters left at
        ``None`` take the server's defaults (see the API docs): ``audio_sample_rate`` is the rate of raw PCM feeds,
        ``pose_style`` is ``[pitch, yaw, roll]`` degrees, ``gaze_style`` ``[x, y]``, ``mode`` ``"live"`` or
        ``"event"``. The client tracks one session: calling this again tracks the new one (the old stays open).
        """
        fields = self._init_fields(session_id, crop, seed, nfe, cfg_scale, chunk_duration, audio_sample_rate,
                                   pose_style, gaze_style, mode, fps, liveliness)  # fmt: skip
        body = self._send(self._init_request(image, fields))
        self._remember(body)
        return body

    def feed_audio_chunk(
        self, audio: AudioSource, sample_rate: int | None = None, is_final: bool = False
    ) -> dict[str, Any]:
        """Feed one chunk of speech; returns the server's JSON (``frames_generated``, ``buffered_seconds``...).

        - numpy array: float samples in [-1, 1] are sent as f32le, int16 as s16le; a 2-D ``(frames, channels)``
          array is sent interleaved. ``sample_rate`` defaults to the session's ``audio_sample_rate``.
        - ``bytes``: raw s16le mono PCM at ``sample_rate`` (or the session's ``audio_sample_rate``).
        - ``str`` / ``Path``: an audio file of any container the server decodes (WAV, FLAC, MP3, OGG, WebM...),
          sent as a multipart upload; ``sample_rate`` is ignored (the file carries it).

        ``is_final=True`` ends the stream once everything is written (the chunk may then be empty).
        """
        return self._send(self._feed_request(audio, sample_rate, is_final))

    def stream_file(
        self,
        path: str | os.PathLike[str],
        chunk_duration: float = 0.2,
        realtime: bool = True,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Decode an audio file and feed it in ``chunk_duration`` chunks, the last one final.

        With ``realtime`` each chunk is sent when its audio is due (chunk *i* at ``i * chunk_duration`` seconds
        after the start), like a live source; otherwise as fast as the server accepts. ``progress(seconds_sent,
        total_seconds)`` is called after each chunk. Returns the last feed's JSON.
        """
        samples, rate = read_audio_file(path)
        bounds = chunk_bounds(len(samples), rate, chunk_duration)
        total = len(samples) / rate
        if not bounds:  # an empty file still ends the stream
            return self.feed_audio_chunk(samples, rate, is_final=True)
        started = time.monotonic()
        result: dict[str, Any] = {}
        for index, (start, end) in enumerate(bounds):
            if realtime:
                time.sleep(max(0.0, started + start / rate - time.monotonic()))
            result = self.feed_audio_chunk(samples[start:end], rate, is_final=index == len(bounds) - 1)
            if progress is not None:
                progress(end / rate, total)
        return result

    def status(self) -> dict[str, Any]:
        """``GET /status``: state, counters, latency and effective parameters of the session."""
        return self._note_hls_url(self._send(self._session_request("GET", "status")))

    def wait_until_complete(self, timeout: float | None = None, poll_interval: float = 0.25) -> dict[str, Any]:
        """Poll :meth:`status` until the stream is complete (after the final chunk); returns the last status.

        Raises :class:`TalkstreamError` if the session fails or is closed, ``TimeoutError`` after ``timeout`` s.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status()
            if _check_finished(status):
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"session {self.session_id} not complete after {timeout} s: {status['status']}")
            time.sleep(poll_interval)

    def interrupt(self) -> dict[str, Any]:
        """Drop queued speech (barge-in); a live session returns to idle. Returns ``dropped_seconds``."""
        return self._send(self._session_request("POST", "interrupt"))

    def close(self) -> dict[str, Any]:
        """Close the session (``DELETE``): the stream stops and its files are removed; later calls answer 404."""
        body = self._send(self._session_request("DELETE", "session"))
        self._open = False
        return body


class AsyncClient(_BaseClient):
    """Asynchronous talkstream client: the same methods as :class:`Client`, as coroutines.

    >>> async with AsyncClient("http://127.0.0.1:9999") as client:   # doctest: +SKIP
    ...     await client.init_session("face.jpg", mode="event")
    ...     await client.stream_file("speech.wav", realtime=False)
    ...     await client.wait_until_complete()
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_retries: int = 5,
        session_id: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key=api_key, timeout=timeout, max_retries=max_retries, session_id=session_id)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=self._headers, timeout=self._timeout,
                                       transport=transport)  # fmt: skip

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._open:
                await self.close()
        except SessionNotFoundError:
            pass
        except TalkstreamError:
            if exc is None:
                raise
        finally:
            await self.disconnect()

    async def disconnect(self) -> None:
        """Close the HTTP connections. The session, if any, stays open on the server."""
        await self._http.aclose()

    async def _send(self, request: _Request) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                response = await self._http.request(**request.kwargs())
            except httpx.RequestError as exc:
                raise self._connection_error(request, exc) from exc
            try:
                return self._answer(response)
            except QueueFullError as exc:
                delay = self._retry_delay(exc, attempt)
                if delay is None:
                    raise
            attempt += 1
            await asyncio.sleep(delay)

    async def health(self) -> dict[str, Any]:
        """``GET /healthz``: ``{"status": "ok", "sessions": n, "model": name}``."""
        return await self._send(_Request("GET", "/healthz"))

    async def init_session(
        self,
        image: ImageSource = None,
        *,
        session_id: str | None = None,
        crop: bool | None = None,
        seed: int | None = None,
        nfe: int | None = None,
        cfg_scale: float | None = None,
        chunk_duration: float | None = None,
        audio_sample_rate: int | None = None,
        pose_style: Sequence[float] | None = None,
        gaze_style: Sequence[float] | None = None,
        mode: Mode | None = None,
        fps: int | None = None,
        liveliness: float | None = None,
    ) -> dict[str, Any]:
        """Open a session and make it this client's session; see :meth:`Client.init_session`."""
        fields = self._init_fields(session_id, crop, seed, nfe, cfg_scale, chunk_duration, audio_sample_rate,
                                   pose_style, gaze_style, mode, fps, liveliness)  # fmt: skip
        request = await asyncio.to_thread(self._init_request, image, fields)  # may read a file
        body = await self._send(request)
        self._remember(body)
        return body

    async def feed_audio_chunk(
        self, audio: AudioSource, sample_rate: int | None = None, is_final: bool = False
    ) -> dict[str, Any]:
        """Feed one chunk of speech; see :meth:`Client.feed_audio_chunk`."""
        if _is_path(audio):
            request = await asyncio.to_thread(self._feed_request, audio, sample_rate, is_final)
        else:
            request = self._feed_request(audio, sample_rate, is_final)
        return await self._send(request)

    async def stream_file(
        self,
        path: str | os.PathLike[str],
        chunk_duration: float = 0.2,
        realtime: bool = True,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Decode an audio file and feed it in chunks, the last one final; see :meth:`Client.stream_file`."""
        samples, rate = await asyncio.to_thread(read_audio_file, path)
        bounds = chunk_bounds(len(samples), rate, chunk_duration)
        total = len(samples) / rate
        if not bounds:
            return await self.feed_audio_chunk(samples, rate, is_final=True)
        started = time.monotonic()
        result: dict[str, Any] = {}
        for index, (start, end) in enumerate(bounds):
            if realtime:
                await asyncio.sleep(max(0.0, started + start / rate - time.monotonic()))
            result = await self.feed_audio_chunk(samples[start:end], rate, is_final=index == len(bounds) - 1)
            if progress is not None:
                progress(end / rate, total)
        return result

    async def status(self) -> dict[str, Any]:
        """``GET /status`` of the session; see :meth:`Client.status`."""
        return self._note_hls_url(await self._send(self._session_request("GET", "status")))

    async def wait_until_complete(self, timeout: float | None = None, poll_interval: float = 0.25) -> dict[str, Any]:
        """Poll the status until the stream is complete; see :meth:`Client.wait_until_complete`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = await self.status()
            if _check_finished(status):
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"session {self.session_id} not complete after {timeout} s: {status['status']}")
            await asyncio.sleep(poll_interval)

    async def interrupt(self) -> dict[str, Any]:
        """Drop queued speech (barge-in); see :meth:`Client.interrupt`."""
        return await self._send(self._session_request("POST", "interrupt"))

    async def close(self) -> dict[str, Any]:
        """Close the session (``DELETE``); see :meth:`Client.close`."""
        body = await self._send(self._session_request("DELETE", "session"))
        self._open = False
        return body
