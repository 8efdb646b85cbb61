"""Command line: ``talkstream [--host H] [--port P]`` runs the server with uvicorn."""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import sys

import uvicorn

from app.config import Settings
from app.logs import configure_logging
from app.main import StartupError, create_app

__all__ = ["main"]


_M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (as MALLOC_ARENA_MAX would), unless the environment already sets them.

    glibc gives busy threads arenas of their own, up to 8 per core; the frame clock, compositing pool and encoder
    writers pass large frames between threads, and the extra arenas kept freed frames resident: 38 MB per live
    session at 12 sessions against 28 MB with 2 arenas, at the same latency (``python -m bench.streaming``).
    Does nothing where libc is not glibc.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(_M_ARENA_MAX, arenas)
    except (OSError, AttributeError, TypeError):  # not glibc: nothing to tune
        pass


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, build the app (failing loudly on a bad environment) and serve it."""
    limit_malloc_arenas()
    settings = Settings()
    parser = argparse.ArgumentParser(prog="talkstream", description="Streaming talking-head video server.")
    parser.add_argument("--host", default=settings.host, help=f"bind address (default {settings.host})")
    parser.add_argument("--port", type=int, default=settings.port, help=f"port (default {settings.port})")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    configure_logging(args.log_level, settings.log_format)
    try:
        app = create_app(settings)
    except StartupError as exc:
        sys.exit(f"talkstream: cannot start: {exc}")
    # log_config=None: uvicorn's own records go through the handler above, in the same format
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=args.log_level, log_config=None, timeout_graceful_shutdown=10
    )
