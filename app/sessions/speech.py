"""The feed path of one session: decoded audio → queue of speech frames (motion row + playback audio slice).

Frame accounting lives here so that invariant 1 holds for every model: speech frames == round(fed seconds x fps)
at every utterance end and at the end of the stream, with the overlap context never yielding extra frames, and every
frame paired with exactly ``out_rate / fps`` playback samples (invariant 2).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from app.inference.model import ANALYSIS_SAMPLE_RATE, MotionModel
from app.inference.tokens import N_TOKENS, TokenArray
from app.sessions.buffer import AudioChunkBuffer, AudioWindow
from app.sessions.decode import DecodedAudio
from app.sessions.resample import StreamResampler

__all__ = ["SpeechFrames", "SpeechPipeline"]


@dataclass(frozen=True)
class SpeechFrames:
    """Speech frames taken from the queue: ``rows[i]`` with audio ``audio[i*spf:(i+1)*spf]``; ``arrivals`` maps a
    row index to the arrival time (monotonic) of the fed chunk whose audio starts on that row."""

    rows: TokenArray
    audio: npt.NDArray[np.float32]
    arrivals: list[tuple[int, float]]


class SpeechPipeline:
    """Analysis windows → motion rows; playback audio at ``out_rate`` → per-frame slices; paired in a queue.

    ``push``/``flush``/``finalize``/``clear`` are serialised by the session's lock; ``take`` may run concurrently
    from the frame clock and only holds a short queue lock.
    """

    def __init__(
        self, motion: MotionModel, fps: int, chunk_duration: float, overlap: float, out_rate: int = 48_000
    ) -> None:
        if out_rate % fps:
            raise ValueError(f"fps {fps} must divide the output sample rate {out_rate}")
        self.fps = fps
        self.out_rate = out_rate
        self.samples_per_frame = out_rate // fps
        self._motion = motion
        self._buffer = AudioChunkBuffer(chunk_duration, overlap, ANALYSIS_SAMPLE_RATE)
        self._playback = StreamResampler(out_rate)
        self._fed = Fraction(0)  # source seconds fed since the last clear
        self._analysed = 0  # new 16 kHz samples analysed since the last clear
        self._frames = 0  # speech rows produced since the last clear
        self._audio_total = 0  # playback samples produced since the last clear
        self._arrivals: deque[tuple[int, float]] = deque()  # (speech row index, arrival time)
        self._lock = threading.Lock()  # guards the queue below
        self._rows: deque[TokenArray] = deque()
        self._audio: deque[npt.NDArray[np.float32]] = deque()
        self._rows_queued = 0
        self._audio_queued = 0
        self._taken = 0  # speech rows taken since the last clear
        self.total_frames = 0  # speech rows produced over the session's life
        self.total_seconds = 0.0  # audio seconds received over the session's life

    # -- feed side -------------------------------------------------------------------------------------------------
    def push(self, audio: DecodedAudio, arrived: float, eager: bool = False) -> None:
        """Queue one decoded chunk: analyse every full window, resample its playback audio.

        ``eager`` (live mode) also analyses the remainder at once as a shorter window, so a chunk's frames are ready
        as soon as it arrives instead of waiting for the next chunk to complete a window.
        """
        with self._lock:
            self._arrivals.append((round(self._fed * self.fps), arrived))
        self._fed += Fraction(len(audio.samples), audio.sample_rate)
        self.total_seconds += audio.seconds
        self._buffer.add_chunk(audio.samples, audio.sample_rate)
        self._queue_audio(self._playback.push(audio.samples, audio.sample_rate))
        while (window := self._buffer.get_chunk()) is not None:
            self._analyse_new(window)
        if eager and (window := self._buffer.take_available()) is not None:
            self._analyse_new(window)

    def _analyse_new(self, window: AudioWindow) -> None:
        """Frames for every whole frame of audio analysed so far (a partial frame waits for more audio)."""
        self._analyse(window, math.floor((self._analysed + window.new) * self.fps / ANALYSIS_SAMPLE_RATE))

    def flush(self) -> None:
        """End of an utterance: analyse what is pending and square the playback audio with the frame count."""
        self._end(self._buffer.flush())

    def finalize(self) -> None:
        """End of the stream: like :meth:`flush`, with the last window zero-padded to full length."""
        self._end(self._buffer.finalize())

    def clear(self) -> float:
        """Drop everything queued or pending (barge-in); returns the seconds of speech dropped."""
        dropped = self._buffer.clear() / ANALYSIS_SAMPLE_RATE
        self._playback.flush()
        with self._lock:
            dropped += self._rows_queued / self.fps
            self._rows.clear()
            self._audio.clear()
            self._rows_queued = self._audio_queued = self._taken = 0
            self._arrivals.clear()
        self._fed, self._analysed, self._frames, self._audio_total = Fraction(0), 0, 0, 0
        self._motion.reset_speech()
        return dropped

    @property
    def pending_samples(self) -> int:
        """16 kHz samples waiting for the next analysis window."""
        return self._buffer.pending_samples

    @property
    def has_pending(self) -> bool:
        return self._buffer.pending_samples > 0 or self._frames * self.samples_per_frame != self._audio_total

    @property
    def queued_seconds(self) -> float:
        """Speech accepted but not yet played: ready frames plus audio waiting for analysis."""
        with self._lock:
            queued = self._rows_queued
        return queued / self.fps + self._buffer.pending_samples / ANALYSIS_SAMPLE_RATE

    def _end(self, window: AudioWindow | None) -> None:
        target = round(self._fed * self.fps)
        if window is not None:
            self._analyse(window, target)
        elif target > self._frames:  # nothing pending at 16 kHz, but rounding still owes frames
            self._analyse(AudioWindow(np.zeros(1, np.float32), 0, 0), target)
        self._queue_audio(self._playback.flush())
        self._square_audio(target * self.samples_per_frame)

    def _analyse(self, window: AudioWindow, frames_after: int) -> None:
        n = max(0, frames_after - self._frames)
        rows = self._motion.analyse(window.samples, window.context, n) if n else np.zeros((0, N_TOKENS), np.float32)
        if rows.shape != (n, N_TOKENS):
            raise RuntimeError(f"motion model returned {rows.shape} rows for {n} frames")
        self._analysed += window.new
        self._frames += n
        self.total_frames += n
        with self._lock:
            self._rows.append(rows.astype(np.float32, copy=False))
            self._rows_queued += n

    def _queue_audio(self, samples: npt.NDArray[np.float32]) -> None:
        if samples.size:
            self._audio_total += len(samples)
            with self._lock:
                self._audio.append(samples)
                self._audio_queued += len(samples)

    def _square_audio(self, target: int) -> None:
        """Pad with silence or trim (less than half a frame) so playback audio ends exactly with the frames."""
        diff = target - self._audio_total
        if diff > 0:
            self._queue_audio(np.zeros(diff, dtype=np.float32))
            return
        with self._lock:
            trim = min(-diff, self._audio_queued)
            while trim:
                last = self._audio.pop()
                cut = min(trim, len(last))
                if cut < len(last):
                    self._audio.append(last[: len(last) - cut])
                trim -= cut
                self._audio_queued -= cut
                self._audio_total -= cut

    # -- clock side ------------------------------------------------------------------------------------------------
    @property
    def ready_frames(self) -> int:
        """Speech frames with both their motion row and their audio slice queued."""
        with self._lock:
            return min(self._rows_queued, self._audio_queued // self.samples_per_frame)

    def take(self, n: int) -> SpeechFrames:
        """Pop up to ``n`` ready speech frames."""
        with self._lock:
            n = min(n, self._rows_queued, self._audio_queued // self.samples_per_frame)
            rows = _pop(self._rows, n)
            audio = _pop(self._audio, n * self.samples_per_frame)
            self._rows_queued -= n
            self._audio_queued -= n * self.samples_per_frame
            first, self._taken = self._taken, self._taken + n
            arrivals = []
            while self._arrivals and self._arrivals[0][0] < self._taken:
                index, arrived = self._arrivals.popleft()
                arrivals.append((max(0, index - first), arrived))
        return SpeechFrames(rows.reshape(n, N_TOKENS), audio, arrivals)


def _pop(blocks: deque[npt.NDArray[np.float32]], n: int) -> npt.NDArray[np.float32]:
    """Pop the first ``n`` items (rows or samples) from a deque of arrays."""
    parts: list[npt.NDArray[np.float32]] = []
    while n > 0:
        head = blocks.popleft()
        if len(head) > n:
            parts.append(head[:n])
            blocks.appendleft(head[n:])
            n = 0
        else:
            parts.append(head)
            n -= len(head)
    if not parts:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]
