"""AudioChunkBuffer: streaming resampling, windows with overlap, finalize, thread safety."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soxr

from app.sessions.buffer import AudioChunkBuffer, AudioWindow


def _drain(buf: AudioChunkBuffer) -> list[AudioWindow]:
    out = []
    while (w := buf.get_chunk()) is not None:
        out.append(w)
    return out


def _new_audio(windows: list[AudioWindow]) -> np.ndarray:
    return np.concatenate([w.samples[w.context : w.context + w.new] for w in windows])


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 24000, 44100, 48000])
def test_resamples_any_rate_without_seams(rate: int) -> None:
    seconds = 3.0
    t = np.arange(round(seconds * rate)) / rate
    signal = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    buf = AudioChunkBuffer(chunk_duration=0.5, overlap=0.2)
    rng = np.random.default_rng(rate)
    windows: list[AudioWindow] = []
    pos = 0
    while pos < len(signal):  # irregular chunk sizes, like real clients
        step = int(rng.integers(50, rate // 3))
        buf.add_chunk(signal[pos : pos + step], rate)
        windows += _drain(buf)
        pos += step
    last = buf.finalize()  # None when the stream ended exactly on a window boundary
    out = _new_audio([*windows, *([last] if last else [])])
    assert abs(len(out) - seconds * 16000) <= 2
    reference = soxr.resample(signal, rate, 16000, quality="HQ")
    n = min(len(out), len(reference))
    # streaming equals one-shot resampling: no seam at any chunk boundary
    assert np.max(np.abs(out[:n] - reference[:n])) < 1e-3
    # and it is the 440 Hz tone: correlation with the analytic signal
    t16 = np.arange(n) / 16000
    expected = 0.5 * np.sin(2 * np.pi * 440 * t16)
    assert np.corrcoef(out[200 : n - 200], expected[200 : n - 200])[0, 1] > 0.999


def test_windows_carry_left_context_overlap() -> None:
    buf = AudioChunkBuffer(chunk_duration=1.0, overlap=0.2)
    audio = np.arange(16000 * 3, dtype=np.float32) / 1e5
    assert buf.add_chunk(audio, 16000) is True
    windows = _drain(buf)
    assert len(windows) == 3
    for i, w in enumerate(windows):
        assert w.context == 3200 and w.new == 16000 and len(w.samples) == 19200
        np.testing.assert_array_equal(w.samples[3200:], audio[i * 16000 : (i + 1) * 16000])
        if i == 0:
            assert not w.samples[:3200].any()  # nothing before the stream: silent context
        else:
            np.testing.assert_array_equal(w.samples[:3200], audio[i * 16000 - 3200 : i * 16000])


def test_partial_window_waits_then_finalize_pads() -> None:
    buf = AudioChunkBuffer(chunk_duration=1.0, overlap=0.2)
    assert buf.add_chunk(np.ones(10000, np.float32), 16000) is False
    assert buf.get_chunk() is None
    assert buf.pending_samples == 10000
    last = buf.finalize()
    assert last is not None
    assert last.new == 10000 and len(last.samples) == 3200 + 16000
    assert not last.samples[3200 + 10000 :].any()  # zero padding after the real audio
    assert buf.finalize() is None


def test_flush_returns_rest_unpadded_and_clear_drops() -> None:
    buf = AudioChunkBuffer(chunk_duration=1.0, overlap=0.2)
    buf.add_chunk(np.ones(4000, np.float32), 16000)
    w = buf.flush()
    assert w is not None and w.new == 4000 and len(w.samples) == 3200 + 4000
    buf.add_chunk(np.ones(5000, np.float32), 24000)
    assert buf.clear() > 0
    assert buf.pending_samples == 0


def test_concurrent_add_chunk_keeps_every_sample_in_order() -> None:
    buf = AudioChunkBuffer(chunk_duration=0.1, overlap=0.2)
    threads, chunks, size = 8, 200, 37

    def producer(k: int) -> None:
        for c in range(chunks):
            ids = (k * chunks + c) * size + np.arange(size)
            buf.add_chunk(ids.astype(np.float32), 16000)

    workers = [threading.Thread(target=producer, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    windows = _drain(buf)
    last = buf.finalize()
    out = _new_audio([*windows, *([last] if last else [])]).astype(np.int64)
    assert len(out) == threads * chunks * size
    assert sorted(out.tolist()) == list(range(threads * chunks * size))  # nothing lost or duplicated
    # each add_chunk is atomic: every chunk's samples stay contiguous and in order
    starts = np.flatnonzero(out % size == 0)
    for s in starts:
        np.testing.assert_array_equal(out[s : s + size], out[s] + np.arange(size))
