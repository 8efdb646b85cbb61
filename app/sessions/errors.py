"""Domain errors of the session layer. The API maps each to an HTTP status in one place (app/api/errors.py)."""

from __future__ import annotations

__all__ = [
    "AudioError",
    "BadParameterError",
    "ModelError",
    "NoFaceError",
    "QueueFullError",
    "SessionClosedError",
    "SessionError",
    "SessionExistsError",
    "SessionFinishedError",
    "SessionLimitError",
    "SessionNotFoundError",
    "TooLargeError",
]


class SessionError(Exception):
    """Base of all errors a client can cause; ``code`` is the machine-readable error code."""

    code = "session_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SessionNotFoundError(SessionError):
    code = "session_not_found"


class SessionExistsError(SessionError):
    code = "session_exists"


class SessionFinishedError(SessionError):
    """Audio fed after the final chunk."""

    code = "session_finished"


class SessionClosedError(SessionError):
    """The session is closed or failed and takes no more audio."""

    code = "session_closed"


class ModelError(SessionError):
    """The model failed on this session's input (a server-side fault); the session has moved to ``error``."""

    code = "model_error"


class SessionLimitError(SessionError):
    code = "session_limit"


class QueueFullError(SessionError):
    """More speech is queued than the configured bound; retry after ``retry_after`` seconds."""

    code = "queue_full"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AudioError(SessionError):
    """Audio that cannot be decoded or is not valid audio."""

    code = "invalid_audio"


class BadParameterError(SessionError):
    code = "invalid_parameter"


class TooLargeError(SessionError):
    code = "too_large"


class NoFaceError(SessionError):
    """The source image holds no usable face."""

    code = "no_face"
