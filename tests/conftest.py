"""Fixtures: a real server (uvicorn on a free port, tmp_path as the HLS root, real ffmpeg)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from app.config import Settings
from app.main import create_app
from tests.helpers import wait_for


@dataclass
class RunningServer:
    """A real talkstream server: ``url`` to call, ``hls_root`` where it writes, ``app`` for introspection."""

    url: str
    hls_root: Path
    app: Any
    settings: Settings
    uvicorn_server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Shut the server down (runs the lifespan's cleanup) and wait for it."""
        self.uvicorn_server.should_exit = True
        self.thread.join(timeout=60)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server_factory() -> Iterator[Callable[..., RunningServer]]:
    """Start servers with custom settings; all are stopped at the end of the test session."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(hls_root: Path, **overrides: Any) -> RunningServer:
        port = _free_port()
        settings = Settings(hls_root=hls_root, port=port, **overrides)
        app = create_app(settings)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread))
        wait_for(lambda: server.started, timeout=60, what="uvicorn to start")
        return RunningServer(f"http://127.0.0.1:{port}", hls_root, app, settings, server, thread)

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def server(server_factory: Callable[..., RunningServer], tmp_path_factory: pytest.TempPathFactory) -> RunningServer:
    """One shared real server with default settings."""
    return server_factory(tmp_path_factory.mktemp("hls"))
