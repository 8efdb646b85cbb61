"""Reading what ffmpeg has published in a media playlist."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["PlaylistState", "read_playlist"]


@dataclass(frozen=True)
class PlaylistState:
    """Segments listed so far (counting those a sliding window already dropped) and whether the stream ended."""

    segments: int
    ended: bool
    durations: tuple[float, ...] = ()


def read_playlist(path: Path) -> PlaylistState:
    """Parse ``path``; a missing playlist means nothing is listed yet."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return PlaylistState(0, False)
    sequence = 0
    durations: list[float] = []
    for line in text.splitlines():
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            durations.append(float(line[8:].split(",", 1)[0]))
    return PlaylistState(sequence + len(durations), "#EXT-X-ENDLIST" in text, tuple(durations))
