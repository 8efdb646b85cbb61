"""Shared test helpers: speech-like audio, WAV bytes, waiting on conditions, inspecting HLS output with ffmpeg."""

from __future__ import annotations

import io
import re
import subprocess
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import imageio_ffmpeg
import numpy as np
import numpy.typing as npt

FACES = Path(__file__).resolve().parent / "data" / "faces"

T = TypeVar("T")


def speech_like(seconds: float, sr: int = 24_000, seed: int = 0, pauses: bool = True) -> npt.NDArray[np.float32]:
    """Syllable-like audio: voiced harmonic bursts (varying pitch and formant colour) separated by short gaps."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sr)
    t = np.arange(n) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum((0.6 / k) * np.sin(k * phase) for k in range(1, 12))
    syllable = 0.5 - 0.5 * np.cos(2 * np.pi * 4.0 * t)  # ~4 syllables per second
    envelope = syllable**1.5
    if pauses:
        gate = np.ones(n)
        pos = 0
        while pos < n:
            run = int(sr * rng.uniform(0.6, 1.4))
            gap = int(sr * rng.uniform(0.15, 0.3))
            gate[pos + run : pos + run + gap] = 0.0
            pos += run + gap
        envelope = envelope * gate
    noise = rng.normal(0, 0.01, n)
    return (0.3 * voiced * envelope + noise * envelope).astype(np.float32)


def wav_bytes(audio: npt.NDArray[np.float32], sr: int, channels: int = 1) -> bytes:
    """16-bit PCM WAV of mono audio (duplicated to ``channels``)."""
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    if channels > 1:
        pcm = np.repeat(pcm[:, None], channels, axis=1)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def wait_for(condition: Callable[[], T], timeout: float, interval: float = 0.05, what: str = "condition") -> T:
    """Poll ``condition`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@dataclass(frozen=True)
class MediaInfo:
    """What ffmpeg reads back from an HLS stream."""

    video_codec: str
    audio_codec: str
    video_frames: int
    audio_samples: int
    audio_rate: int
    width: int
    height: int

    def video_seconds(self, fps: float) -> float:
        return self.video_frames / fps

    @property
    def audio_seconds(self) -> float:
        return self.audio_samples / self.audio_rate


def probe_hls(playlist: Path, timeout: float = 60) -> MediaInfo:
    """Decode a finished playlist with ffmpeg: codecs, counted video frames and audio samples."""
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    info = subprocess.run([exe, "-hide_banner", "-i", str(playlist)], capture_output=True, text=True, timeout=timeout)
    video = re.search(r"Video: (\w+).*?, (\d+)x(\d+)", info.stderr)
    audio = re.search(r"Audio: (\w+).*?, (\d+) Hz", info.stderr)
    assert video and audio, info.stderr
    frames = subprocess.run(
        [exe, "-hide_banner", "-i", str(playlist), "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "gray",
         "-s", "16x16", "pipe:1"],
        capture_output=True, timeout=timeout, check=True,
    ).stdout  # fmt: skip
    samples = subprocess.run(
        [exe, "-hide_banner", "-i", str(playlist), "-map", "0:a:0", "-f", "s16le", "-ac", "1", "pipe:1"],
        capture_output=True, timeout=timeout, check=True,
    ).stdout  # fmt: skip
    return MediaInfo(
        video_codec=video.group(1),
        audio_codec=audio.group(1),
        video_frames=len(frames) // 256,
        audio_samples=len(samples) // 2,
        audio_rate=int(audio.group(2)),
        width=int(video.group(2)),
        height=int(video.group(3)),
    )


def decode_frames(playlist: Path, size: int = 128, timeout: float = 60) -> npt.NDArray[np.uint8]:
    """All video frames of a finished playlist as (n, size, size, 3) RGB."""
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    raw = subprocess.run(
        [exe, "-hide_banner", "-i", str(playlist), "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24",
         "-s", f"{size}x{size}", "pipe:1"],
        capture_output=True, timeout=timeout, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, size, size, 3)


def playlist_segments(text: str) -> tuple[int, list[str], list[float]]:
    """(media sequence, segment names, durations) of a media playlist."""
    seq = int(m.group(1)) if (m := re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)) else 0
    durations = [float(x) for x in re.findall(r"#EXTINF:([\d.]+),", text)]
    names = [line for line in text.splitlines() if line and not line.startswith("#")]
    return seq, names, durations


API = "/api/audio-driven/chunked"


def open_session(client: httpx.Client, face: str | None = "obama.jpg", **form: object) -> dict[str, object]:
    """POST /init (multipart) and return the JSON; fails the test on a non-201 answer."""
    files = {"image": (face, (FACES / face).read_bytes(), "image/jpeg")} if face else None
    r = client.post(f"{API}/init", data={k: str(v) for k, v in form.items()}, files=files)
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def feed_wav(
    client: httpx.Client, session_id: str, audio: npt.NDArray[np.float32], sr: int, final: bool = False
) -> httpx.Response:
    """POST /feed with a WAV chunk."""
    return client.post(
        f"{API}/feed",
        data={"session_id": session_id, "is_final_chunk": "true" if final else "false"},
        files={"audio_chunk": ("chunk.wav", wav_bytes(audio, sr), "audio/wav")},
    )


def status(client: httpx.Client, session_id: str) -> dict[str, object]:
    r = client.get(f"{API}/status/{session_id}")
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


import httpx  # noqa: E402  (only for the annotations above)
