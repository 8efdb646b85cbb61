"""StaticFiles for HLS output: correct MIME types and cache headers per file kind, optional signed URLs."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from app import metrics
from app.hls.signing import HLSUrls, SignatureError

__all__ = ["HLSStaticFiles"]

_TYPES = {
    ".m3u8": ("application/vnd.apple.mpegurl", "no-cache"),
    ".m4s": ("video/iso.segment", None),
    ".mp4": ("video/mp4", None),
    ".ts": ("video/mp2t", None),
}


class HLSStaticFiles(StaticFiles):
    """Serves ``<hls_root>/<session>/...``: playlists are never cached, segments are immutable.

    Segment names are unique within a session and session ids are never reused while files exist, which is what
    makes ``immutable`` safe. Anything that is not HLS output is not served. When ``urls`` signs, only
    ``<session>/t/<token>/<file>`` paths with a valid, unexpired token are served (403 otherwise), and segments
    are ``private`` so that shared caches do not keep serving them once the URL has expired.
    """

    def __init__(
        self, *, directory: str | os.PathLike[str], segment_max_age: int = 3600, urls: HLSUrls | None = None
    ) -> None:
        super().__init__(directory=directory, check_dir=True)
        self.segment_max_age = segment_max_age
        self.urls = urls or HLSUrls()

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        media_type, cache = _TYPES.get(os.path.splitext(str(full_path))[1], (None, None))
        if media_type:
            response.headers["content-type"] = media_type
        audience = "private" if self.urls.signed else "public"
        response.headers["cache-control"] = cache or f"{audience}, max-age={self.segment_max_age}, immutable"
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        if os.path.splitext(path)[1] not in _TYPES or os.path.basename(path).startswith("."):
            return _error(404, "not_found", "not an HLS file")
        if self.urls.signed:
            try:
                path = self.urls.authorise(path)
            except SignatureError as exc:
                return _error(403, exc.code, exc.message)
        response = await super().get_response(path, scope)
        if isinstance(response, FileResponse) and path.endswith(".m3u8"):
            return await _snapshot(response)
        return response


async def _snapshot(response: FileResponse) -> Response:
    """The playlist read in one go. ffmpeg replaces a live playlist several times a second; a FileResponse would
    announce the size of one version and could stream another (a broken response), where one read is consistent.

    ffmpeg writes EXT-X-TARGETDURATION as the rounded longest segment: 0 for segments shorter than 0.5 s, which
    HLS forbids (it must be a positive integer no smaller than any rounded segment duration); 1 is served instead.
    """
    try:
        body = await anyio.to_thread.run_sync(Path(response.path).read_bytes)
    except FileNotFoundError:  # the session was deleted in between
        return _error(404, "not_found", "Not Found")
    body = body.replace(b"#EXT-X-TARGETDURATION:0\n", b"#EXT-X-TARGETDURATION:1\n")
    stale = ("content-length", "etag", "last-modified")
    headers = {k: v for k, v in response.headers.items() if k not in stale}
    return Response(body, status_code=response.status_code, headers=headers)


def _error(status: int, code: str, message: str) -> Response:
    """The API's JSON error body (counted like every other error answer)."""
    metrics.ERRORS.labels(code).inc()
    return JSONResponse({"status": "error", "error": {"code": code, "message": message}}, status_code=status)
