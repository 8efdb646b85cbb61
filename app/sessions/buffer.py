"""AudioChunkBuffer: fed audio of any rate in, 16 kHz analysis windows with left-context overlap out."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.sessions.resample import StreamResampler

__all__ = ["AudioChunkBuffer", "AudioWindow"]


@dataclass(frozen=True)
class AudioWindow:
    """One analysis window: ``samples[:context]`` was seen before, ``samples[context:context + new]`` is new audio,
    and anything after that is zero padding (only in the last window of a stream)."""

    samples: npt.NDArray[np.float32]
    context: int
    new: int


class AudioChunkBuffer:
    """Thread-safe accumulator of speech for the motion model.

    Audio is resampled to ``sample_rate`` (16 kHz) with a stateful soxr stream and handed out in windows of
    ``chunk_duration`` seconds of NEW audio, each preceded by ``overlap`` x that length of left context (the tail of
    the previous window; zeros at the start). Overlap informs the model; it never yields extra frames.
    """

    def __init__(self, chunk_duration: float = 1.0, overlap: float = 0.2, sample_rate: int = 16_000) -> None:
        if not 0 <= overlap < 1:
            raise ValueError("overlap must be in [0, 1)")
        self.sample_rate = sample_rate
        self.chunk_samples = max(1, round(chunk_duration * sample_rate))
        self.context_samples = round(overlap * self.chunk_samples)
        self._lock = threading.Lock()
        self._resampler = StreamResampler(sample_rate)
        self._pending = np.zeros(0, dtype=np.float32)
        self._context = np.zeros(self.context_samples, dtype=np.float32)

    @property
    def pending_samples(self) -> int:
        """16 kHz samples waiting for the next window (the reference API's ``buffer_samples``)."""
        with self._lock:
            return len(self._pending)

    def add_chunk(self, audio: npt.NDArray[np.float32], source_sr: int) -> bool:
        """Append mono float32 audio at ``source_sr``; True when at least one full window is ready."""
        with self._lock:
            self._append(self._resampler.push(audio, source_sr))
            return len(self._pending) >= self.chunk_samples

    def get_chunk(self) -> AudioWindow | None:
        """The next full window, or None when less than ``chunk_duration`` of new audio is pending."""
        with self._lock:
            if len(self._pending) < self.chunk_samples:
                return None
            return self._take(self.chunk_samples, pad_to=self.chunk_samples)

    def flush(self) -> AudioWindow | None:
        """Everything pending as one (shorter) window, draining the resampler: the end of an utterance."""
        with self._lock:
            self._append(self._resampler.flush())
            return self._take(len(self._pending), pad_to=0) if len(self._pending) else None

    def take_available(self) -> AudioWindow | None:
        """Everything pending as one (shorter) window WITHOUT draining the resampler: low-latency live analysis."""
        with self._lock:
            return self._take(len(self._pending), pad_to=0) if len(self._pending) else None

    def finalize(self) -> AudioWindow | None:
        """The rest of the stream, zero-padded to a full window (``new`` tells the real length)."""
        with self._lock:
            self._append(self._resampler.flush())
            return self._take(len(self._pending), pad_to=self.chunk_samples) if len(self._pending) else None

    def clear(self) -> int:
        """Drop pending audio and filter state (barge-in); returns the 16 kHz samples dropped."""
        with self._lock:
            dropped = len(self._pending) + len(self._resampler.flush())
            self._pending = np.zeros(0, dtype=np.float32)
            self._context = np.zeros(self.context_samples, dtype=np.float32)
            return dropped

    def _append(self, samples: npt.NDArray[np.float32]) -> None:
        if samples.size:
            self._pending = np.concatenate([self._pending, samples])

    def _take(self, n: int, pad_to: int) -> AudioWindow:
        new, self._pending = self._pending[:n], self._pending[n:]
        padding = np.zeros(max(0, pad_to - n), dtype=np.float32)
        window = np.concatenate([self._context, new, padding])
        if self.context_samples:
            self._context = np.concatenate([self._context, new])[-self.context_samples :]
        return AudioWindow(window, self.context_samples, n)
