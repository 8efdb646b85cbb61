"""Request dependencies: settings, the session manager, HLS URLs, session lookup (404), API-key auth."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request

from app.config import Settings
from app.hls.signing import HLSUrls
from app.sessions.manager import SESSION_ID_PATTERN, SessionManager
from app.sessions.session import Session

__all__ = ["HLSUrlsDep", "ManagerDep", "SessionDep", "SettingsDep", "require_api_key"]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_manager(request: Request) -> SessionManager:
    manager: SessionManager = request.app.state.manager
    return manager


def get_hls_urls(request: Request) -> HLSUrls:
    urls: HLSUrls = request.app.state.hls_urls
    return urls


SettingsDep = Annotated[Settings, Depends(get_settings)]
ManagerDep = Annotated[SessionManager, Depends(get_manager)]
HLSUrlsDep = Annotated[HLSUrls, Depends(get_hls_urls)]


def require_api_key(request: Request, settings: SettingsDep) -> None:
    """When ``TALKSTREAM_API_KEY`` is set, control endpoints need ``Authorization: Bearer <key>``."""
    if not settings.api_key:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), settings.api_key):
        raise HTTPException(401, "missing or wrong API key (Authorization: Bearer <key>)",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip


def get_session(
    manager: ManagerDep,
    session_id: Annotated[str, Path(pattern=SESSION_ID_PATTERN, description="Session id from /init.")],
) -> Session:
    return manager.get(session_id)


SessionDep = Annotated[Session, Depends(get_session)]
