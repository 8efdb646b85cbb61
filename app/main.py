"""create_app(): the lifespan wires Settings → InferenceAgent → SessionManager; mounts /hls and the demo page."""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import torch
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api.errors import install_error_handlers
from app.api.limits import BodyLimitMiddleware
from app.api.routes import sessions
from app.api.schemas import HealthResponse
from app.config import Settings
from app.hls.encoder import ffmpeg_exe
from app.hls.signing import HLS_PREFIX, HLSUrls
from app.hls.staticfiles import HLSStaticFiles
from app.inference.agent import InferenceAgent
from app.inference.registry import load_model
from app.sessions.manager import SessionManager

__all__ = ["StartupError", "create_app"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
_FORM_OVERHEAD = 64 * 1024


class StartupError(RuntimeError):
    """The server cannot run as configured; the message says what to fix."""


def check_environment(settings: Settings) -> None:
    """Fail loudly at start-up: a working ffmpeg and a writable HLS root are required."""
    try:
        exe = ffmpeg_exe()
        subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, check=True, timeout=20)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        raise StartupError(f"ffmpeg is not usable ({exc}); install imageio-ffmpeg or set IMAGEIO_FFMPEG_EXE") from exc
    root = settings.hls_root
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise StartupError(f"the HLS root {root} is not writable: {exc} (set TALKSTREAM_HLS_ROOT)") from exc


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; the model, agent and sessions start in the lifespan."""
    settings = settings or Settings()
    check_environment(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threads = settings.torch_threads or max(1, len(os.sched_getaffinity(0)))
        torch.set_num_threads(threads)
        model = load_model(settings.model, settings.device)
        agent = InferenceAgent(model)
        agent.start()
        from app.inference.builtin import default_face_image

        manager = SessionManager(settings, agent, default_face_image())
        await manager.start()
        app.state.settings = settings
        app.state.manager = manager
        log.info("talkstream ready: model %s, HLS root %s", model.name, settings.hls_root)
        try:
            yield
        finally:
            await manager.aclose()
            agent.close()

    app = FastAPI(
        title="talkstream",
        version="0.1.0",
        summary="Streaming talking-head video: a face image and speech audio in, live HLS with audio out.",
        lifespan=lifespan,
    )
    key = settings.hls_signing_key
    hls_urls = HLSUrls(key.get_secret_value() if key else None, settings.hls_url_ttl)
    app.state.settings = settings
    app.state.hls_urls = hls_urls
    install_error_handlers(app)
    app.include_router(sessions.router)

    @app.get("/healthz", response_model=HealthResponse, tags=["health"], summary="Liveness and session count")
    async def healthz(request: Request) -> HealthResponse:
        manager: SessionManager = request.app.state.manager
        return HealthResponse(sessions=len(manager), model=manager.agent.model.name)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False, response_model=None)
    async def index() -> FileResponse | JSONResponse:
        page = STATIC_DIR / "index.html"
        if page.is_file():
            return FileResponse(page, headers={"Cache-Control": "no-cache"})
        return JSONResponse({"name": "talkstream", "docs": "/docs"})

    hls_files = HLSStaticFiles(directory=settings.hls_root, segment_max_age=settings.segment_max_age, urls=hls_urls)
    app.mount(HLS_PREFIX, hls_files, "hls")
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), "static")
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes + _FORM_OVERHEAD)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app
