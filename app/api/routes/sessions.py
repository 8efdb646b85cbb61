"""The chunked audio-driven API (paths and field names of the reference design, plus our additions)."""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile

from app.api.deps import HLSUrlsDep, ManagerDep, SessionDep, SettingsDep, require_api_key
from app.api.schemas import (
    DeleteResponse,
    ErrorResponse,
    FeedResponse,
    HLSUrlResponse,
    InitResponse,
    InterruptResponse,
    StatusResponse,
)
from app.hls.signing import PlaylistUrl
from app.sessions.decode import MAX_CHANNELS, MAX_RATE, MIN_RATE, PcmFormat
from app.sessions.errors import AudioError, BadParameterError, TooLargeError
from app.sessions.session import AudioInput, FeedResult, Session, SessionParams

__all__ = ["router"]

log = logging.getLogger(__name__)

PREFIX = "/api/audio-driven/chunked"
_MAX_URL_TTL = 7 * 86400

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "Undecodable audio or image",
        401: "Missing or wrong API key",
        404: "Unknown session",
        409: "Feed after the final chunk, or session already exists / closed",
        413: "Upload too large",
        422: "Bad parameters or no face in the image",
        429: "Too much speech queued; see Retry-After",
        500: "The model failed on this session's input (`model_error`; the session is now in error)",
        503: "Session limit reached",
    }.items()
}

router = APIRouter(prefix=PREFIX, tags=["sessions"], dependencies=[Depends(require_api_key)], responses=_ERRORS)


def _expires_at(url: PlaylistUrl) -> str | None:
    return None if url.expires_at is None else datetime.fromtimestamp(url.expires_at, UTC).isoformat()


def _json_list(name: str, raw: str | None, length: int) -> tuple[float, ...] | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadParameterError(f"{name} must be a JSON array of {length} finite numbers, got {raw!r}") from exc
    if (
        not isinstance(value, list)
        or len(value) != length
        or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    ):
        raise BadParameterError(f"{name} must be a JSON array of {length} finite numbers, got {raw!r}")
    return tuple(float(v) for v in value)


async def _read_upload(upload: UploadFile, limit: int, what: str) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise TooLargeError(f"the {what} is larger than {limit} bytes")
    return data


@router.post("/init", status_code=201, response_model=InitResponse, summary="Open a session with a face image")
async def init_session(
    manager: ManagerDep,
    settings: SettingsDep,
    urls: HLSUrlsDep,
    image: Annotated[
        UploadFile | None, File(description="Face image (PNG, JPEG, WebP...); default face if absent")
    ] = None,
    session_id: Annotated[str | None, Form(description="Client-chosen id: 8-64 of [A-Za-z0-9_-]")] = None,
    crop: Annotated[bool, Form(description="Crop a square around the face (else the whole image)")] = True,
    seed: Annotated[int, Form(ge=0, le=2**31 - 1, description="Seed of head motion, blinks and gaze")] = 42,
    nfe: Annotated[int, Form(ge=1, le=50, description="Sampling steps (diffusion models)")] = 10,
    cfg_scale: Annotated[float, Form(ge=0, le=20, description="Guidance scale (diffusion models)")] = 2.0,
    chunk_duration: Annotated[float, Form(ge=0.1, le=10, description="Analysis window (s)")] = 1.0,
    audio_sample_rate: Annotated[
        int | None, Form(ge=MIN_RATE, le=MAX_RATE, description="Rate of raw PCM feeds (Hz)")
    ] = None,
    sample_rate: Annotated[
        int | None, Form(ge=MIN_RATE, le=MAX_RATE, description="Alias of audio_sample_rate")
    ] = None,
    pose_style: Annotated[str | None, Form(description="JSON [pitch, yaw, roll] head-pose offset, degrees")] = None,
    gaze_style: Annotated[str | None, Form(description="JSON [x, y] gaze offset, -1..1")] = None,
    mode: Annotated[Literal["live", "event"], Form(description="live: paced with idle fill; event: fast")] = "live",
    fps: Annotated[int, Form(ge=1, le=60, description="Frames per second; must divide 48000")] = 25,
    liveliness: Annotated[
        float, Form(ge=0, le=2, description="Head/gaze motion: 0 still, 1 natural, 2 lively")
    ] = 1.0,
) -> InitResponse:
    """Analyse the face once, start the session's encoder and clock. Live sessions start streaming idle frames."""
    if settings.audio_sample_rate_out % fps:
        raise BadParameterError(f"fps must divide {settings.audio_sample_rate_out} (e.g. 24, 25, 30, 50), got {fps}")
    pose = _json_list("pose_style", pose_style, 3) or (0.0, 0.0, 0.0)
    gaze = _json_list("gaze_style", gaze_style, 2) or (0.0, 0.0)
    params = SessionParams(
        mode=mode,
        fps=fps,
        chunk_duration=chunk_duration,
        audio_sample_rate=audio_sample_rate or sample_rate or 24_000,
        crop=crop,
        seed=seed,
        nfe=nfe,
        cfg_scale=cfg_scale,
        pose_style=(pose[0], pose[1], pose[2]),
        gaze_style=(gaze[0], gaze[1]),
        liveliness=liveliness,
    )
    data = await _read_upload(image, settings.max_upload_bytes, "image") if image is not None else None
    if data is not None and not data and image is not None and not image.filename:
        data = None  # an empty file field from a form with no file chosen: use the default face
    session = await manager.create(params, data, session_id)
    url = urls.playlist(session.id)
    return InitResponse(
        session_id=session.id,
        hls_url=url.path,
        hls_url_expires_at=_expires_at(url),
        status_url=f"{PREFIX}/status/{session.id}",
        message=f"session created ({mode} mode); feed audio to {PREFIX}/feed",
        mode=mode,
        params=session.params.public(),
        created_at=session.created_at.isoformat(),
    )


def _feed_response(session: Session, result: FeedResult) -> FeedResponse:
    return FeedResponse(
        session_id=session.id,
        buffer_samples=result.buffer_samples,
        frames_generated=result.frames_generated,
        session_status=result.session_status.value,
        accepted_seconds=result.accepted_seconds,
        total_audio_seconds=result.total_audio_seconds,
        buffered_seconds=result.buffered_seconds,
        segments_written=result.segments_written,
        is_final=result.is_final,
    )


@router.post("/feed", response_model=FeedResponse, summary="Feed an audio chunk (multipart)")
async def feed(
    manager: ManagerDep,
    settings: SettingsDep,
    session_id: Annotated[str, Form(description="Session id from /init")],
    audio_chunk: Annotated[UploadFile | None, File(description="WAV/FLAC/OGG/MP3/WebM, any rate/channels")] = None,
    is_final_chunk: Annotated[bool | None, Form(description="Last chunk: ends the stream")] = None,
    is_final: Annotated[bool | None, Form(description="Alias of is_final_chunk")] = None,
) -> FeedResponse:
    """Decode one chunk and queue it; with ``is_final_chunk`` the stream ends once everything is written."""
    session = manager.get(session_id)
    final = bool(is_final_chunk if is_final_chunk is not None else is_final)
    if audio_chunk is None and not final:
        raise BadParameterError("audio_chunk is required unless is_final_chunk is true")
    data = await _read_upload(audio_chunk, settings.max_upload_bytes, "audio chunk") if audio_chunk else b""
    raw = audio_chunk is not None and _looks_raw(audio_chunk.content_type, data)
    audio = AudioInput(data, raw=raw, sample_rate=session.params.audio_sample_rate)
    result = await session.feed(audio, final)
    manager.schedule_flush(session)
    _log_feed(session, result)
    return _feed_response(session, result)


def _log_feed(session: Session, result: FeedResult) -> None:
    extra = {"session_id": session.id}
    log.debug("session %s: %.3f s of audio accepted", session.id, result.accepted_seconds, extra=extra)
    if result.is_final:
        log.info("session %s: final chunk received (%.3f s of audio in all)", session.id,
                 result.total_audio_seconds, extra=extra)  # fmt: skip


def _looks_raw(content_type: str | None, data: bytes) -> bool:
    """Headerless bytes sent as octet-stream or audio/L16-like types are raw s16le PCM (reference clients)."""
    signatures = (b"RIFF", b"fLaC", b"OggS", b"ID3", b"\x1aE\xdf\xa3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
    if data[:4].startswith(signatures) or data[4:8] == b"ftyp":
        return False
    return (content_type or "").split(";")[0].strip().lower() in (
        "application/octet-stream",
        "audio/l16",
        "audio/pcm",
    )


@router.post(
    "/feed/{session_id}",
    response_model=FeedResponse,
    summary="Feed raw PCM (request body)",
    openapi_extra={
        "requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
async def feed_raw(
    request: Request,
    manager: ManagerDep,
    settings: SettingsDep,
    session: SessionDep,
    sample_rate: Annotated[int | None, Query(description="Hz; default: the session's audio_sample_rate")] = None,
    format: Annotated[Literal["s16le", "f32le"], Query(description="Sample format")] = "s16le",
    channels: Annotated[int, Query(ge=1, le=MAX_CHANNELS, description="Interleaved channels")] = 1,
    is_final: Annotated[bool, Query(description="Last chunk: ends the stream")] = False,
) -> FeedResponse:
    """Raw little-endian PCM as the body, for streaming clients (no multipart, no container)."""
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype.startswith(("multipart/", "application/json", "text/")):
        # a form, JSON or text is never PCM (curl --data-binary's default form-urlencoded label is tolerated)
        raise AudioError(
            f"Content-Type {ctype} is not raw PCM; send samples as application/octet-stream, or files to /feed"
        )
    rate = sample_rate if sample_rate is not None else session.params.audio_sample_rate
    if not MIN_RATE <= rate <= MAX_RATE:
        raise BadParameterError(f"sample_rate must be between {MIN_RATE} and {MAX_RATE} Hz, got {rate}")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > settings.max_upload_bytes:
            raise TooLargeError(f"the audio chunk is larger than {settings.max_upload_bytes} bytes")
    if not body and not is_final:
        raise BadParameterError("the request body is empty; send PCM samples or is_final=true")
    fmt: PcmFormat = format
    audio = AudioInput(bytes(body), raw=True, sample_rate=rate, fmt=fmt, channels=channels)
    result = await session.feed(audio, is_final)
    manager.schedule_flush(session)
    _log_feed(session, result)
    return _feed_response(session, result)


@router.get("/status/{session_id}", response_model=StatusResponse, summary="Session status")
async def status(session: SessionDep, manager: ManagerDep, urls: HLSUrlsDep) -> StatusResponse:
    """State, counters, latency and effective parameters of a session (and a fresh signed HLS URL)."""
    model = manager.agent.model
    data = session.status(model.name, model.unused_params)
    url = urls.playlist(session.id)
    data["hls_url"], data["hls_url_expires_at"] = url.path, _expires_at(url)
    return StatusResponse.model_validate(data)


@router.get("/hls_url/{session_id}", response_model=HLSUrlResponse, summary="A fresh viewer URL (signed HLS)")
async def hls_url(
    session: SessionDep,
    urls: HLSUrlsDep,
    ttl: Annotated[
        int | None, Query(ge=10, le=_MAX_URL_TTL, description="Seconds the URL stays valid; default the server's")
    ] = None,
) -> HLSUrlResponse:
    """The session's playlist URL for a viewer; when signing is on, valid for ``ttl`` seconds."""
    url = urls.playlist(session.id, ttl)
    log.debug(
        "session %s: viewer URL minted (expires %s)", session.id, url.expires_at, extra={"session_id": session.id}
    )
    return HLSUrlResponse(session_id=session.id, hls_url=url.path, hls_url_expires_at=_expires_at(url))


@router.post("/interrupt/{session_id}", response_model=InterruptResponse, summary="Drop queued speech (barge-in)")
async def interrupt(session: SessionDep) -> InterruptResponse:
    """Drop queued and pending speech; a live session returns to idle at the next frame."""
    dropped = await session.interrupt()
    log.info(
        "session %s interrupted: %.3f s of speech dropped", session.id, dropped, extra={"session_id": session.id}
    )
    return InterruptResponse(session_id=session.id, dropped_seconds=round(dropped, 6))


@router.delete("/session/{session_id}", response_model=DeleteResponse, summary="Close a session")
async def delete_session(session: SessionDep, manager: ManagerDep) -> DeleteResponse:
    """Stop the session and remove its files; it answers 404 afterwards."""
    await manager.delete(session.id)
    return DeleteResponse(message=f"session {session.id} closed and its files removed")
