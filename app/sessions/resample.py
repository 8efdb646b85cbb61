"""Streaming resampling with state (soxr), so chunk boundaries leave no seams."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

__all__ = ["StreamResampler"]

_EMPTY = np.zeros(0, dtype=np.float32)


class StreamResampler:
    """Resamples a mono stream to ``target_rate``; the source rate may change between calls.

    soxr keeps filter state between chunks; a change of source rate, or :meth:`flush`, drains the filter and starts
    a new stream. Not thread-safe: callers serialise.
    """

    def __init__(self, target_rate: int) -> None:
        self.target_rate = target_rate
        self._source_rate: int | None = None
        self._stream: soxr.ResampleStream | None = None

    def push(self, audio: npt.NDArray[np.float32], source_rate: int) -> npt.NDArray[np.float32]:
        """Resample the next piece of the stream; returns what the filter can emit now."""
        out = self.flush() if source_rate != self._source_rate else _EMPTY
        self._source_rate = source_rate
        if source_rate == self.target_rate:
            chunk = np.ascontiguousarray(audio, dtype=np.float32)
        else:
            if self._stream is None:
                self._stream = soxr.ResampleStream(source_rate, self.target_rate, 1, dtype="float32", quality="HQ")
            chunk = self._stream.resample_chunk(np.ascontiguousarray(audio, dtype=np.float32))
        return chunk if out.size == 0 else np.concatenate([out, chunk])

    def flush(self) -> npt.NDArray[np.float32]:
        """Drain the filter (end of an utterance or of the stream); the next push starts a new stream."""
        out = _EMPTY
        if self._stream is not None:
            out = self._stream.resample_chunk(_EMPTY, last=True).astype(np.float32, copy=False)
        self._stream = None
        self._source_rate = None
        return out
