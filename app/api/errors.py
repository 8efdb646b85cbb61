"""Domain errors → HTTP, in one place. Every error answers ``{"status": "error", "error": {"code", "message"}}``."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import metrics
from app.sessions.errors import (
    AudioError,
    BadParameterError,
    ModelError,
    NoFaceError,
    QueueFullError,
    SessionClosedError,
    SessionError,
    SessionExistsError,
    SessionFinishedError,
    SessionLimitError,
    SessionNotFoundError,
    TooLargeError,
)

__all__ = ["error_response", "install_error_handlers"]

log = logging.getLogger(__name__)

_STATUS: dict[type[SessionError], int] = {
    SessionNotFoundError: 404,
    SessionExistsError: 409,
    SessionFinishedError: 409,
    SessionClosedError: 409,
    ModelError: 500,
    SessionLimitError: 503,
    QueueFullError: 429,
    AudioError: 400,
    NoFaceError: 422,
    BadParameterError: 422,
    TooLargeError: 413,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error every failure answers with.

    A 413 also closes the connection: the unread rest of an oversized body is then never read, where keeping the
    connection alive would make the server read (and discard) all of it, however large.
    """
    metrics.ERRORS.labels(code).inc()
    body = {"status": "error", "error": {"code": code, "message": message}}
    if status == 413:
        headers = {**(headers or {}), "Connection": "close"}
    return JSONResponse(body, status_code=status, headers=headers)


def _status_of(exc: SessionError) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 400


async def _session_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SessionError)
    headers = None
    if isinstance(exc, QueueFullError):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    elif isinstance(exc, SessionLimitError):
        headers = {"Retry-After": "5"}
    return error_response(_status_of(exc), exc.code, exc.message, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return error_response(422, "invalid_parameter", "; ".join(parts) or "invalid request")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, str(exc.detail), headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    session_id = request.path_params.get("session_id")
    log.exception("unhandled error on %s %s", request.method, request.url.path, extra={"session_id": session_id})
    return error_response(500, "internal_error", "internal server error; the session state is unchanged")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(SessionError, _session_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
