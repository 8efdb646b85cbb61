"""Response schemas of the HTTP API (pydantic stays at the edges)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "DeleteResponse",
    "ErrorBody",
    "ErrorResponse",
    "FeedResponse",
    "HLSUrlResponse",
    "HealthResponse",
    "InitResponse",
    "InterruptResponse",
    "LatencyStats",
    "StatusResponse",
]

SessionState = Literal["waiting", "processing", "complete", "error", "closed"]
_EXPIRES = "ISO-8601 UTC time the signed hls_url stops working; null when HLS URLs are not signed."


class ErrorBody(BaseModel):
    code: str = Field(description="Machine-readable error code, e.g. `session_not_found`, `invalid_audio`.")
    message: str = Field(description="What was wrong, for humans.")


class ErrorResponse(BaseModel):
    status: Literal["error"] = "error"
    error: ErrorBody


class InitResponse(BaseModel):
    status: Literal["success"] = "success"
    session_id: str
    hls_url: str = Field(description="Path of the session's HLS playlist (served by this server; signed when "
                         "TALKSTREAM_HLS_SIGNING_KEY is set).")  # fmt: skip
    hls_url_expires_at: str | None = Field(default=None, description=_EXPIRES)
    status_url: str
    message: str
    mode: Literal["live", "event"]
    params: dict[str, Any] = Field(description="Effective session parameters.")
    created_at: str = Field(description="ISO-8601 UTC creation time.")


class FeedResponse(BaseModel):
    status: Literal["success"] = "success"
    session_id: str
    buffer_samples: int = Field(description="16 kHz samples waiting for the next analysis window.")
    frames_generated: int = Field(description="Speech frames generated so far (= round(fed seconds x fps)).")
    session_status: SessionState
    accepted_seconds: float = Field(description="Seconds of audio accepted from this chunk.")
    total_audio_seconds: float = Field(description="Seconds of audio received by the session so far.")
    buffered_seconds: float = Field(description="Seconds of speech accepted but not yet played.")
    segments_written: int = Field(description="HLS segments listed in the playlist so far.")
    is_final: bool


class LatencyStats(BaseModel):
    count: int
    p50: float | None = Field(description="Median seconds from a chunk's arrival to its first frame being listed.")
    p95: float | None


class StatusResponse(BaseModel):
    session_id: str
    status: SessionState
    mode: Literal["live", "event"]
    hls_url: str = Field(description="Path of the HLS playlist; when signed, a fresh URL on every call.")
    hls_url_expires_at: str | None = Field(default=None, description=_EXPIRES)
    total_frames_generated: int
    buffer_samples: int
    speech_frames: int = Field(description="Speech frames written to the stream.")
    idle_frames: int = Field(description="Idle frames written to the stream (live mode).")
    frames_written: int
    audio_seconds_received: float
    buffered_seconds: float
    segments_written: int
    final_received: bool
    uptime_seconds: float
    last_activity: str
    idle_seconds: float = Field(description="Seconds since the last feed or control request.")
    last_error: str | None
    params: dict[str, Any]
    latency: LatencyStats
    face: dict[str, Any] = Field(description="How the face was found: detector, faces found, notes.")
    model: dict[str, Any] = Field(description="Model name and the parameters it ignores.")


class InterruptResponse(BaseModel):
    status: Literal["success"] = "success"
    session_id: str
    dropped_seconds: float


class HLSUrlResponse(BaseModel):
    status: Literal["success"] = "success"
    session_id: str
    hls_url: str = Field(description="Path of the session's HLS playlist, signed when signing is configured.")
    hls_url_expires_at: str | None = Field(description=_EXPIRES)


class DeleteResponse(BaseModel):
    status: Literal["success"] = "success"
    message: str


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    sessions: int
    model: str
