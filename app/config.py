"""Server settings, read from the environment (prefix ``TALKSTREAM_``) or a ``.env`` file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Every tunable of the server. Each field maps to ``TALKSTREAM_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="TALKSTREAM_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 9999
    hls_root: Path = Field(default=Path("hls"), description="Directory where each session's HLS files are written.")
    model: str = Field(default="builtin", description="Model name in the `talkstream.models` entry-point group.")
    device: str | None = Field(default=None, description="torch device; default cuda when available, else cpu.")
    output_size: int = Field(default=512, ge=64, le=2048, description="Output frame size (square when cropping).")

    # Timeline
    fps: float = Field(default=25.0, ge=1, le=60, description="Default frames per second.")
    overlap: float = Field(default=0.2, ge=0, lt=1, description="Left-context overlap of analysis windows.")
    max_queued_seconds: float = Field(
        default=30.0, gt=0, description="Speech queued per session beyond which /feed answers 429."
    )
    flush_after: float = Field(
        default=0.3, gt=0, description="Live mode: a partial window is processed when no feed came for this long."
    )

    # Encoder / HLS
    segment_seconds: float = Field(
        default=0.32,
        ge=0.2,
        le=10,
        description="Live sessions: target segment length, rounded UP to whole frames (0.32 s = 8 frames at 25 fps). "
        "Short segments are what keeps a chunk's first frame near its arrival in the playlist (a frame waits for the "
        "end of its segment). ffmpeg writes EXT-X-TARGETDURATION as the ROUNDED longest segment (0 below 0.5 s); "
        "playlists are served with 1 instead, as HLS requires.",
    )
    event_segment_seconds: float = Field(
        default=1.0,
        ge=0.2,
        le=10,
        description="Event-mode sessions: target segment length (latency does not matter there; fewer files do).",
    )
    playlist_type: Literal["event", "sliding"] = Field(
        default="sliding",
        description="Live sessions: `sliding` keeps a window of `hls_list_size` segments (older files are deleted); "
        "`event` keeps every segment. Event-mode sessions always keep every segment.",
    )
    hls_list_size: int = Field(default=30, ge=3, description="Segments kept in a sliding-window playlist.")
    audio_sample_rate_out: int = Field(default=48000, description="Sample rate of the output audio track.")
    audio_bitrate: str = "96k"
    x264_preset: str = "ultrafast"
    x264_crf: int = Field(default=23, ge=0, le=51)
    encoder_nice: int = Field(
        default=5,
        ge=0,
        le=19,
        description="Added niceness of ffmpeg processes. Encoders are buffered and can lag a little; the frame clock "
        "cannot, so under full load the clock gets the CPU first.",
    )
    stamp_clock: bool = Field(
        default=False,
        description="Benchmark aid, off in normal use: burn the wall clock (ms) into the top rows of every frame "
        "as black/white blocks (app/hls/stamp.py), for bench/glass.py to read back in the browser.",
    )
    segment_max_age: int = Field(default=3600, description="Cache-Control max-age of media segments (s).")
    hls_signing_key: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="When set, /hls serves only signed URLs that expire: the `hls_url` of /init and /status "
        "carries an expiry and an HMAC-SHA256 signature made with this key (at least 16 characters).",
    )
    hls_url_ttl: int = Field(
        default=3600, ge=10, le=7 * 86400, description="Seconds a signed HLS URL stays valid (when signing is on)."
    )

    # Lifecycle and limits
    max_sessions: int = Field(default=16, ge=1, description="Open sessions beyond which /init answers 503.")
    inactivity_timeout: float = Field(default=3000.0, gt=0, description="Seconds without activity before removal.")
    finished_linger: float = Field(default=300.0, ge=0, description="Seconds a finished session stays available.")
    sweep_interval: float = Field(default=5.0, gt=0, description="Seconds between inactivity sweeps.")
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, description="Largest accepted audio chunk or image.")
    max_image_pixels: int = Field(default=40_000_000, description="Largest accepted image, in pixels.")
    max_chunk_seconds: float = Field(default=60.0, gt=0, description="Longest accepted single audio chunk.")
    api_key: str | None = Field(default=None, description="When set, control endpoints need `Bearer <key>`.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS (JSON list).")
    torch_threads: int | None = Field(default=None, description="torch CPU threads; default: available cores.")
    log_format: Literal["text", "json"] = Field(
        default="text", description="`text` (human readable) or `json` (one object per line) log records."
    )

    @field_validator("hls_signing_key", mode="before")
    @classmethod
    def _empty_key_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    def segment_frames(self, fps: int, live: bool = True) -> int:
        """Whole frames per HLS segment at ``fps`` (every segment starts with a keyframe)."""
        seconds = self.segment_seconds if live else self.event_segment_seconds
        return max(1, math.ceil(seconds * fps - 1e-9))
