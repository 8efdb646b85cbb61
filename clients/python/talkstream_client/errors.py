"""Typed errors, built from the server's JSON error body ``{"status": "error", "error": {"code", "message"}}``."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import httpx

__all__ = [
    "AudioFileError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "NoSessionError",
    "PayloadTooLargeError",
    "QueueFullError",
    "ServerBusyError",
    "ServerError",
    "SessionNotFoundError",
    "TalkstreamConnectionError",
    "TalkstreamError",
    "ValidationError",
    "error_from_response",
    "parse_retry_after",
]

_MAX_TEXT = 300  # characters of a non-JSON error body kept in the message


class TalkstreamError(Exception):
    """Base of every error this client raises.

    ``status_code`` is the HTTP status (``None`` when no answer was received), ``code`` the server's
    machine-readable error code (e.g. ``session_not_found``) and ``message`` what was wrong.
    """

    def __init__(self, message: str, *, status_code: int | None = None, code: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code

    def __str__(self) -> str:
        if self.status_code is None:
            return self.message
        return f"{self.status_code} {self.code}: {self.message}"


class BadRequestError(TalkstreamError):
    """400: undecodable audio or image."""


class AuthenticationError(TalkstreamError):
    """401: missing or wrong API key."""


class SessionNotFoundError(TalkstreamError):
    """404: unknown session (never created, closed, or expired)."""


class ConflictError(TalkstreamError):
    """409: audio fed after the final chunk, session id already in use, or session closed."""


class PayloadTooLargeError(TalkstreamError):
    """413: the upload is larger than the server accepts."""


class ValidationError(TalkstreamError):
    """422: bad parameters, or no usable face in the image."""


class QueueFullError(TalkstreamError):
    """429: too much speech is queued; nothing was applied. ``retry_after`` is the wait the server asked for (s)."""

    def __init__(self, message: str, *, status_code: int | None = 429, code: str = "queue_full",
                 retry_after: float = 1.0) -> None:  # fmt: skip
        super().__init__(message, status_code=status_code, code=code)
        self.retry_after = retry_after


class ServerError(TalkstreamError):
    """5xx: the server failed."""


class ServerBusyError(ServerError):
    """503: the server's session limit is reached. ``retry_after`` is the wait it suggests (s), if any."""

    def __init__(self, message: str, *, status_code: int | None = 503, code: str = "session_limit",
                 retry_after: float | None = None) -> None:  # fmt: skip
        super().__init__(message, status_code=status_code, code=code)
        self.retry_after = retry_after


class TalkstreamConnectionError(TalkstreamError):
    """The request got no answer: connection refused, DNS failure, timeout, connection dropped."""


class AudioFileError(TalkstreamError):
    """A local audio file could not be read (unsupported format, or no ffmpeg to decode it); nothing was sent."""


class NoSessionError(TalkstreamError):
    """The client has no session to act on: call ``init_session()`` first (no request was sent)."""


_BY_STATUS: dict[int, type[TalkstreamError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: SessionNotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: ValidationError,
}


def parse_retry_after(value: str | None, default: float = 1.0) -> float:
    """Seconds to wait from a ``Retry-After`` header: delay seconds (integer or decimal) or an HTTP date."""
    if value is None or not value.strip():
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if seconds == seconds else default  # NaN -> default


def _code_and_message(response: httpx.Response) -> tuple[str | None, str]:
    """The server's ``(code, message)``; for a body that is not the server's JSON error, a readable summary."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and "message" in error:
            code = error.get("code")
            return (str(code) if code else None), str(error["message"])
        if "detail" in body:  # a plain FastAPI/Starlette error, e.g. from a proxy in front of the server
            return None, str(body["detail"])
    reason = response.reason_phrase or f"HTTP {response.status_code}"
    text = response.text.strip()
    if len(text) > _MAX_TEXT:
        text = text[:_MAX_TEXT] + "..."
    return None, f"{reason}: {text}" if text else reason


def error_from_response(response: httpx.Response) -> TalkstreamError:
    """The typed error for a non-2xx answer (the body must have been read)."""
    status = response.status_code
    code, message = _code_and_message(response)
    code = code or f"http_{status}"
    if status == 429:
        return QueueFullError(message, status_code=status, code=code,
                              retry_after=parse_retry_after(response.headers.get("retry-after")))  # fmt: skip
    if status == 503:
        header = response.headers.get("retry-after")
        retry_after = parse_retry_after(header) if header is not None else None
        return ServerBusyError(message, status_code=status, code=code, retry_after=retry_after)
    if status >= 500:
        return ServerError(message, status_code=status, code=code)
    return _BY_STATUS.get(status, TalkstreamError)(message, status_code=status, code=code)
