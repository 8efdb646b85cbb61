"""Decoding fed audio to float32 mono: containers through ffmpeg, WAV and raw PCM directly."""

from __future__ import annotations

import io
import subprocess
import wave
from dataclasses import dataclass
from typing import Literal

import imageio_ffmpeg
import numpy as np
import numpy.typing as npt

from app.sessions.errors import AudioError, BadParameterError

__all__ = [
    "MAX_CHANNELS",
    "MAX_DECODED_SECONDS",
    "MAX_RATE",
    "MIN_RATE",
    "DecodedAudio",
    "decode_container",
    "decode_pcm",
]

MIN_RATE = 4_000
MAX_RATE = 192_000
MAX_CHANNELS = 8
#: Rate ffmpeg decodes compressed containers to (equal to the playback rate, so no second resampling).
_CONTAINER_RATE = 48_000
_DECODE_TIMEOUT = 30.0
#: Default longest audio one container may decode to. It bounds ffmpeg's output: a few kB of WAV claiming 1 Hz
#: would otherwise expand to gigabytes at 48 kHz.
MAX_DECODED_SECONDS = 600.0
#: WAV data sizes from this one up are what streaming writers put in the header when the length is not known in
#: advance (SoX 0x7FFFF000, ffmpeg 0xFFFFFFFF; others write 0).
_UNKNOWN_WAV_SIZE = 0x7FFFF000

PcmFormat = Literal["s16le", "f32le"]


@dataclass(frozen=True)
class DecodedAudio:
    """Mono float32 samples in [-1, 1] at ``sample_rate``."""

    samples: npt.NDArray[np.float32]
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def _check_rate_channels(sample_rate: int, channels: int) -> None:
    if not MIN_RATE <= sample_rate <= MAX_RATE:
        raise BadParameterError(f"sample_rate must be between {MIN_RATE} and {MAX_RATE} Hz, got {sample_rate}")
    if not 1 <= channels <= MAX_CHANNELS:
        raise BadParameterError(f"channels must be between 1 and {MAX_CHANNELS}, got {channels}")


def _finish(interleaved: npt.NDArray[np.float32], channels: int, sample_rate: int) -> DecodedAudio:
    if not np.isfinite(interleaved).all():
        raise AudioError("the audio holds NaN or infinite samples")
    mono = interleaved.reshape(-1, channels).mean(axis=1) if channels > 1 else interleaved
    return DecodedAudio(np.clip(mono, -1.0, 1.0).astype(np.float32, copy=False), sample_rate)


def decode_pcm(data: bytes, sample_rate: int, fmt: PcmFormat = "s16le", channels: int = 1) -> DecodedAudio:
    """Raw little-endian PCM (interleaved when ``channels`` > 1) to mono float32."""
    _check_rate_channels(sample_rate, channels)
    if _is_wav(data):
        raise AudioError("the body is a WAV file, not raw PCM; send containers as the audio_chunk file of /feed")
    width = 2 if fmt == "s16le" else 4
    if len(data) % (width * channels):
        raise AudioError(f"{len(data)} bytes is not a whole number of {fmt} frames with {channels} channel(s)")
    if fmt == "s16le":
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    else:
        samples = np.frombuffer(data, dtype="<f4").astype(np.float32)
    return _finish(samples, channels, sample_rate)


def _is_wav(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WAVE"


def _check_wav(data: bytes) -> None:
    """Reject a WAV whose header is cut short, whose data chunk is shorter than declared, or whose rate or channel
    count is unusable, whatever its sample encoding (integer PCM here, float and others through ffmpeg)."""
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = data[pos + 8 : pos + 8 + size]
        if chunk == b"fmt " and len(body) >= 8:
            channels, rate = int.from_bytes(body[2:4], "little"), int.from_bytes(body[4:8], "little")
            try:
                _check_rate_channels(rate, channels)
            except BadParameterError as exc:
                raise BadParameterError(f"unsupported WAV header: {exc.message}") from exc
        elif chunk == b"data":
            if 0 < size < _UNKNOWN_WAV_SIZE and len(body) < size:
                raise AudioError(
                    f"the WAV file is truncated: its header declares {size} bytes of samples, {len(body)} are present"
                )
            return
        pos += 8 + size + (size & 1)  # chunks are padded to an even length
    raise AudioError("the WAV file is truncated: its header ends before the sample data")


def _decode_wav(data: bytes) -> DecodedAudio | None:
    """Integer-PCM WAV via the stdlib; None for anything it cannot read (float WAV, extensible, ...)."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            channels, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError, ValueError):
        return None
    usable = len(raw) - len(raw) % (width * channels)
    raw = raw[:usable]
    if width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8
        samples = ints.astype(np.float32) / 8388608.0
    elif width == 4:
        samples = np.frombuffer(raw, dtype="<i4").astype(np.float32) / 2147483648.0
    else:
        return None
    return _finish(samples, channels, rate)


def decode_container(data: bytes, max_seconds: float = MAX_DECODED_SECONDS) -> DecodedAudio:
    """Any container ffmpeg can decode (WAV, FLAC, OGG/Opus, MP3, WebM, ...), downmixed to mono.

    Integer PCM WAV is read directly; everything else goes through one ffmpeg process, decoded at 48 kHz and
    stopped past ``max_seconds`` (an AudioError), so that memory stays bounded whatever the header claims.
    """
    if not data:
        raise AudioError("the audio chunk is empty")
    if _is_wav(data):
        _check_wav(data)
        wav = _decode_wav(data)
        if wav is not None:
            return wav
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
        "-i", "pipe:0", "-map", "0:a:0", "-ac", "1", "-ar", str(_CONTAINER_RATE), "-t", str(max_seconds + 1),
        "-f", "f32le", "pipe:1",
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, input=data, capture_output=True, timeout=_DECODE_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AudioError("decoding the audio took too long") from exc
    if proc.returncode != 0 or not proc.stdout:
        stderr = proc.stderr.decode(errors="replace")
        reason = stderr.strip().splitlines()
        detail = reason[-1] if reason else "no audio stream found"
        if "matches no streams" in stderr:  # a file ffmpeg reads (an image, a video) but without audio
            detail = "the file holds no audio stream"
        raise AudioError(f"the audio could not be decoded: {detail}")
    usable = len(proc.stdout) - len(proc.stdout) % 4
    if usable > max_seconds * _CONTAINER_RATE * 4:
        raise AudioError(f"the audio is longer than {max_seconds:g} s")
    return _finish(np.frombuffer(proc.stdout[:usable], dtype="<f4").copy(), 1, _CONTAINER_RATE)
