"""Command line: ``talkstream [--host H] [--port P]`` runs the server with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from app.config import Settings
from app.main import StartupError, create_app

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, build the app (failing loudly on a bad environment) and serve it."""
    settings = Settings()
    parser = argparse.ArgumentParser(prog="talkstream", description="Streaming talking-head video server.")
    parser.add_argument("--host", default=settings.host, help=f"bind address (default {settings.host})")
    parser.add_argument("--port", type=int, default=settings.port, help=f"port (default {settings.port})")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        app = create_app(settings)
    except StartupError as exc:
        sys.exit(f"talkstream: cannot start: {exc}")
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=10)
