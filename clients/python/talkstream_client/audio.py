"""Audio helpers: numpy arrays to raw PCM bodies, audio files to mono float32, files into chunks."""

from __future__ import annotations

import os
import re
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from talkstream_client.errors import AudioFileError

__all__ = ["PcmChunk", "PcmFormat", "chunk_bounds", "encode_pcm", "read_audio_file"]

PcmFormat = Literal["s16le", "f32le"]

_FFMPEG_RATE = re.compile(r"Stream #\d+:\d+.*?: Audio: .*?(\d+) Hz")


@dataclass(frozen=True)
class PcmChunk:
    """Raw little-endian PCM ready for the raw-body feed endpoint (interleaved when ``channels > 1``)."""

    data: bytes
    format: PcmFormat
    channels: int


def encode_pcm(audio: npt.NDArray[Any]) -> PcmChunk:
    """Encode an array as raw PCM: float arrays as ``f32le``, int16 arrays as ``s16le``.

    A 1-D array is mono; a 2-D array is ``(frames, channels)`` and is sent interleaved.
    Float samples are expected in [-1, 1].
    """
    arr = np.asarray(audio)
    if arr.ndim == 1:
        channels = 1
    elif arr.ndim == 2 and arr.shape[1] >= 1:
        channels = int(arr.shape[1])
    else:
        raise ValueError(f"audio must be 1-D (mono) or 2-D (frames, channels); got shape {arr.shape}")
    if arr.dtype.kind == "f":
        return PcmChunk(arr.astype("<f4", copy=False).tobytes(), "f32le", channels)
    if arr.dtype == np.int16:
        return PcmChunk(arr.astype("<i2", copy=False).tobytes(), "s16le", channels)
    raise TypeError(f"unsupported sample type {arr.dtype}: use float32/float64 samples in [-1, 1] or int16")


def read_audio_file(path: str | os.PathLike[str]) -> tuple[npt.NDArray[np.float32], int]:
    """Decode an audio file to ``(mono float32 samples, sample rate)``.

    PCM WAV files are read with the standard library; any other container (FLAC, MP3, OGG/Opus, M4A, WebM, float
    WAV...) with the ffmpeg binary of the ``imageio-ffmpeg`` package. Raises :class:`AudioFileError` when the file
    cannot be decoded.
    """
    file = Path(path)
    if not file.is_file():
        raise AudioFileError(f"no such audio file: {file}")
    try:
        return _read_wav(file)
    except (wave.Error, EOFError):
        pass  # not a PCM WAV (another container, or a float/extensible WAV the wave module rejects)
    return _read_with_ffmpeg(file)


def chunk_bounds(total: int, sample_rate: int, chunk_duration: float) -> list[tuple[int, int]]:
    """``(start, end)`` sample ranges of ``chunk_duration`` seconds covering ``total`` samples (last one shorter)."""
    if chunk_duration <= 0:
        raise ValueError(f"chunk_duration must be positive, got {chunk_duration}")
    step = max(1, round(chunk_duration * sample_rate))
    return [(start, min(start + step, total)) for start in range(0, total, step)]


def _read_wav(file: Path) -> tuple[npt.NDArray[np.float32], int]:
    with wave.open(str(file), "rb") as w:
        channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
        raw = w.readframes(w.getnframes())
    samples = _pcm_to_float(raw, width)
    frames = len(samples) // channels
    return samples[: frames * channels].reshape(frames, channels).mean(axis=1, dtype=np.float32), rate


def _pcm_to_float(raw: bytes, width: int) -> npt.NDArray[np.float32]:
    """Integer PCM of ``width`` bytes per sample to float32 in [-1, 1)."""
    if width == 1:  # 8-bit WAV is unsigned
        return ((np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    if width == 2:
        return (np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0).astype(np.float32)
    if width == 3:  # 24-bit: place the three bytes in the top of an int32
        b = np.frombuffer(raw[: len(raw) // 3 * 3], np.uint8).reshape(-1, 3).astype(np.int32)
        value = (b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)
        return (value.astype(np.float64) / 2**31).astype(np.float32)
    if width == 4:
        return (np.frombuffer(raw, "<i4").astype(np.float64) / 2**31).astype(np.float32)
    raise wave.Error(f"unsupported WAV sample width: {width} bytes")


def _ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise AudioFileError(
            "decoding this file needs ffmpeg: `pip install imageio-ffmpeg`, or convert the file to PCM WAV"
        ) from exc
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as exc:
        raise AudioFileError(f"imageio-ffmpeg found no ffmpeg binary: {exc}") from exc


def _read_with_ffmpeg(file: Path) -> tuple[npt.NDArray[np.float32], int]:
    command = [_ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(file),
               "-map", "0:a:0", "-vn", "-ac", "1", "-f", "f32le", "pipe:1"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, check=False)
    stderr = result.stderr.decode(errors="replace")
    rate = _FFMPEG_RATE.search(stderr)
    if result.returncode != 0 or rate is None:
        tail = stderr.strip().splitlines()[-1:] or ["no audio stream found"]
        raise AudioFileError(f"cannot decode {file}: {tail[0]}")
    samples = np.frombuffer(result.stdout[: len(result.stdout) // 4 * 4], "<f4").astype(np.float32)
    return samples, int(rate.group(1))
