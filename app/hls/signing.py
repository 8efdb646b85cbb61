"""Playlist URLs of sessions, optionally signed: ``/hls/<session>/t/<expiry>.<signature>/index.m3u8``.

The token sits in the PATH, not in the query string: players resolve the playlist's relative URIs (``init.mp4``,
``seg_00001.m4s``) against the playlist URL and drop its query, so only a path token reaches every file a player
fetches. The signature is HMAC-SHA256 over the session id and the expiry (Unix seconds), base64url without padding.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
from dataclasses import dataclass

from app.hls.encoder import PLAYLIST_NAME

__all__ = ["HLS_PREFIX", "HLSUrls", "PlaylistUrl", "SignatureError"]

HLS_PREFIX = "/hls"
TOKEN_DIR = "t"
_EXPIRY = re.compile(r"[0-9]{1,12}")


class SignatureError(Exception):
    """A request under /hls lacks a valid, unexpired signature; ``code`` names why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PlaylistUrl:
    """A session's playlist path (relative to the server) and when it stops working (``None``: never)."""

    path: str
    expires_at: int | None


class HLSUrls:
    """Makes playlist URLs and checks requested paths. Without a key, URLs are plain and every path is allowed."""

    def __init__(self, key: str | None = None, ttl: int = 3600) -> None:
        self._key = key.encode() if key else None
        self.ttl = ttl

    @property
    def signed(self) -> bool:
        return self._key is not None

    def playlist(self, session_id: str, ttl: int | None = None, now: float | None = None) -> PlaylistUrl:
        """The URL a viewer opens; signed ones are valid for ``ttl`` seconds (default: the configured TTL)."""
        if self._key is None:
            return PlaylistUrl(f"{HLS_PREFIX}/{session_id}/{PLAYLIST_NAME}", None)
        expires = int(now if now is not None else time.time()) + (ttl if ttl is not None else self.ttl)
        token = self.token(session_id, expires)
        return PlaylistUrl(f"{HLS_PREFIX}/{session_id}/{TOKEN_DIR}/{token}/{PLAYLIST_NAME}", expires)

    def token(self, session_id: str, expires: int) -> str:
        """``<expiry>.<signature>``: the path component that authorises ``session_id``'s files until ``expires``."""
        return f"{expires}.{self._signature(session_id, expires)}"

    def authorise(self, path: str, now: float | None = None) -> str:
        """Check ``<session>/t/<token>/<file>`` (normalised, relative to the HLS root); return ``<session>/<file>``.

        Raises :class:`SignatureError` when the token is missing, forged, for another session, or expired.
        """
        parts = path.split(os.sep)
        if len(parts) != 4 or parts[1] != TOKEN_DIR:
            raise SignatureError(
                "signature_required", "HLS files are served only through signed URLs: use the hls_url from /status"
            )
        session_id, _, token, name = parts
        self._check(session_id, token, time.time() if now is None else now)
        return os.path.join(session_id, name)

    def _check(self, session_id: str, token: str, now: float) -> None:
        expiry, _, signature = token.partition(".")
        if not _EXPIRY.fullmatch(expiry) or not hmac.compare_digest(
            signature.encode(errors="replace"), self._signature(session_id, int(expiry)).encode()
        ):
            raise SignatureError("invalid_signature", "the HLS URL's signature is not valid for this session")
        if int(expiry) < now:
            raise SignatureError("url_expired", "the HLS URL has expired: get a fresh hls_url from /status")

    def _signature(self, session_id: str, expires: int) -> str:
        if self._key is None:
            raise RuntimeError("HLS URL signing is not configured")
        digest = hmac.new(self._key, f"hls:{session_id}:{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
