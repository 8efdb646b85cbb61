"""Wall-clock stamps (app/hls/stamp.py) survive the real encoder: stamp → Encoder (ffmpeg, H.264 CRF 23) → decode
the segments back with ffmpeg → read_stamp gives every frame's ms exactly; unstamped frames read as None."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from app.hls.encoder import Encoder, EncoderConfig, ffmpeg_exe
from app.hls.stamp import MIN_WIDTH, read_stamp, stamp, stamp_rows
from tests.helpers import FACES

WIDTH, HEIGHT, FPS = 320, 96, 25  # not a multiple of the 16-pixel cells across: 20 cells a row


def _noise_frames(n: int, seed: int = 0) -> list[npt.NDArray[np.uint8]]:
    """Busy frames (noise over a moving gradient): the hardest picture for the blocks to survive."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, WIDTH, dtype=np.float32)
    frames = []
    for i in range(n):
        base = (x[None, :, None] + 20 * i) % 256 * np.ones((HEIGHT, 1, 3), dtype=np.float32)
        frames.append(np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8))
    return frames


def _encode(frames: list[npt.NDArray[np.uint8]], out_dir: Path, stamp_clock: bool = False) -> Path:
    """Run the real Encoder over ``frames`` (with silence) to the end; the finished playlist."""
    cfg = EncoderConfig(width=WIDTH, height=HEIGHT, fps=FPS, segment_frames=4, stamp_clock=stamp_clock)
    errors: list[str | None] = []
    encoder = Encoder(cfg, out_dir, on_exit=errors.append, name="stamp-test")
    silence = np.zeros(48_000 // FPS, dtype=np.float32)
    for frame in frames:
        assert encoder.write(frame, silence)
    encoder.finish()
    assert encoder.wait(timeout=30) == 0
    assert errors == [None]
    return out_dir / "index.m3u8"


def _decode(out_dir: Path) -> npt.NDArray[np.uint8]:
    """Every frame of the fMP4 segments (init + media segments, concatenated) as (n, H, W, 3) RGB."""
    stream = out_dir / "stream.mp4"
    parts = [out_dir / "init.mp4", *sorted(out_dir.glob("seg_*.m4s"))]
    stream.write_bytes(b"".join(p.read_bytes() for p in parts))
    raw = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(stream), "-map", "0:v:0",
         "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
        capture_output=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, HEIGHT, WIDTH, 3)


def test_stamps_survive_the_encoder_exactly(tmp_path: Path) -> None:
    now = round(time.time() * 1000)
    stamps = [now + 40 * i for i in range(6)] + [0, 1, (1 << 48) - 1, 0x5A5A5A5A5A5A]
    frames = [stamp(f, ms) for f, ms in zip(_noise_frames(len(stamps)), stamps, strict=True)]

    _encode(frames, tmp_path)
    decoded = _decode(tmp_path)

    assert [read_stamp(f) for f in decoded] == stamps


def test_encoder_stamps_the_wall_clock_when_asked(tmp_path: Path) -> None:
    frames = _noise_frames(8, seed=1)
    before = round(time.time() * 1000)
    _encode(frames, tmp_path, stamp_clock=True)
    after = round(time.time() * 1000)

    read = [ms for f in _decode(tmp_path) if (ms := read_stamp(f)) is not None]

    assert len(read) == len(frames)  # every frame carries an intact stamp
    assert read == sorted(read)
    assert before <= read[0] and read[-1] <= after


def test_unstamped_frames_read_as_none() -> None:
    face = cv2.cvtColor(cv2.imread(str(FACES / "obama.jpg")), cv2.COLOR_BGR2RGB)
    for frame in [*_noise_frames(2), np.zeros((HEIGHT, WIDTH, 3), np.uint8), np.full((64, 512, 3), 255, np.uint8)]:
        assert read_stamp(frame) is None
    assert read_stamp(np.ascontiguousarray(face[:256, :512])) is None
    # damaged: one data cell flipped from black to white (or back) fails the check
    stamped = stamp(np.zeros((64, 512, 3), np.uint8), 1_700_000_000_000)
    stamped[:16, 6 * 16 : 7 * 16] ^= 255
    assert read_stamp(stamped) is None


@pytest.mark.parametrize("width", [MIN_WIDTH, 300, 512, 1024])
def test_round_trip_any_width_and_pixel_layout(width: int) -> None:
    frame = np.random.default_rng(width).integers(0, 256, (stamp_rows(width) + 8, width, 3), dtype=np.uint8)
    ms = 1_765_432_109_876

    stamped = stamp(frame, ms)

    assert read_stamp(stamped) == ms
    assert read_stamp(np.dstack([stamped, np.full(stamped.shape[:2], 255, np.uint8)])) == ms  # RGBA (a canvas)
    assert read_stamp(stamped[:, :, 1]) == ms  # grey
    assert np.array_equal(stamped[stamp_rows(width) :], frame[stamp_rows(width) :])  # only the top rows change
    assert read_stamp(frame) is None  # the input is left alone


def test_stamp_rejects_what_it_cannot_carry() -> None:
    with pytest.raises(ValueError, match="too small"):
        stamp(np.zeros((64, MIN_WIDTH - 1, 3), np.uint8), 1)
    with pytest.raises(ValueError, match="48 bits"):
        stamp(np.zeros((64, 512, 3), np.uint8), 1 << 48)
