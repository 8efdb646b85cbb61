"""Command line: ``talkstream [--host H] [--port P]`` runs the server with uvicorn."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from app.config import Settings
from app.logs import configure_logging
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
    configure_logging(args.log_level, settings.log_format)
    try:
        app = create_app(settings)
    except StartupError as exc:
        sys.exit(f"talkstream: cannot start: {exc}")
    # log_config=None: uvicorn's own records go through the handler above, in the same format
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=args.log_level, log_config=None, timeout_graceful_shutdown=10
    )
