"""StaticFiles for HLS output: correct MIME types and cache headers per file kind."""

from __future__ import annotations

import os

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

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
    makes ``immutable`` safe. Anything that is not HLS output is not served.
    """

    def __init__(self, *, directory: str | os.PathLike[str], segment_max_age: int = 3600) -> None:
        super().__init__(directory=directory, check_dir=True)
        self.segment_max_age = segment_max_age

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        media_type, cache = _TYPES.get(os.path.splitext(str(full_path))[1], (None, None))
        if media_type:
            response.headers["content-type"] = media_type
        response.headers["cache-control"] = cache or f"public, max-age={self.segment_max_age}, immutable"
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        if os.path.splitext(path)[1] not in _TYPES or os.path.basename(path).startswith("."):
            return Response('{"status":"error","error":{"code":"not_found","message":"not an HLS file"}}',
                            status_code=404, media_type="application/json")  # fmt: skip
        return await super().get_response(path, scope)
