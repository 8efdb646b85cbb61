"""SpeechPipeline: frame-exact accounting and A/V pairing for any rate, chunking, flushes and interrupts."""

from __future__ import annotations

import numpy as np
import pytest

from app.inference.builtin.motion import BuiltinMotion
from app.inference.model import MotionOptions
from app.sessions.decode import DecodedAudio
from app.sessions.speech import SpeechPipeline
from tests.helpers import speech_like


def _pipeline(chunk_duration: float = 0.5, fps: int = 25) -> SpeechPipeline:
    return SpeechPipeline(BuiltinMotion(None, MotionOptions(fps=fps)), fps, chunk_duration, 0.2)


def _drain(p: SpeechPipeline) -> tuple[int, int]:
    frames = samples = 0
    while p.ready_frames:
        got = p.take(7)
        frames += len(got.rows)
        samples += len(got.audio)
    return frames, samples


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 24000, 44100, 48000])
@pytest.mark.parametrize("chunk", [0.2, 1.0])
def test_frames_equal_round_fed_seconds_times_fps(rate: int, chunk: float) -> None:
    p = _pipeline(chunk)
    rng = np.random.default_rng(rate)
    audio = speech_like(3.37, rate, seed=1)
    pos = 0
    while pos < len(audio):
        step = int(rng.integers(rate // 20, rate // 2))
        p.push(DecodedAudio(audio[pos : pos + step], rate), arrived=0.0)
        pos += step
    p.finalize()
    frames, samples = _drain(p)
    expected = round(len(audio) / rate * 25)
    assert frames == expected == p.total_frames
    assert samples == frames * 1920  # every frame carries exactly 48000 / 25 samples
    assert not p.has_pending and p.queued_seconds == 0


def test_utterance_flush_keeps_count_and_alignment_across_pauses() -> None:
    p = _pipeline(1.0)
    total = 0.0
    for k, seconds in enumerate((0.73, 1.41, 0.29)):  # three utterances, each ended by a flush (live pause)
        p.push(DecodedAudio(speech_like(seconds, 24000, seed=k), 24000), arrived=0.0)
        total += seconds
        p.flush()
        frames, samples = _drain(p)
        assert samples == frames * 1920
    assert p.total_frames == round(total * 25)


def test_rows_only_play_with_their_audio_and_arrivals_map_to_rows() -> None:
    p = _pipeline(0.2)
    p.push(DecodedAudio(speech_like(0.5, 16000), 16000), arrived=1.0)
    p.push(DecodedAudio(speech_like(0.5, 16000), 16000), arrived=2.0)
    got = p.take(100)
    assert len(got.audio) == len(got.rows) * 1920
    assert got.arrivals[0] == (0, 1.0)
    p.finalize()
    rest = p.take(100)
    rows_of = {t: i for i, t in got.arrivals} | {t: i + len(got.rows) for i, t in rest.arrivals}
    assert rows_of[2.0] == round(0.5 * 25)  # the second chunk's audio starts on row 12


def test_clear_drops_everything_queued() -> None:
    p = _pipeline(0.5)
    p.push(DecodedAudio(speech_like(4.0, 24000), 24000), arrived=0.0)
    assert p.queued_seconds > 3
    dropped = p.clear()
    assert dropped > 3.5
    assert p.ready_frames == 0 and p.queued_seconds == 0
    p.push(DecodedAudio(speech_like(1.0, 24000), 24000), arrived=0.0)
    p.finalize()
    frames, samples = _drain(p)
    assert frames == 25 and samples == 25 * 1920
