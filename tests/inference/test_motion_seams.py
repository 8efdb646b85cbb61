"""Motion tokens do not depend on how the audio was chunked: no jump at a chunk seam.

Real recorded speech (bench/data/human) is fed through the real speech pipeline in chunks of many sizes, at 16 kHz
and at 44.1 kHz (resampled on the way in); the audio-driven token rows must match those of the same audio posted in
one piece. So a change across a chunk seam is one the sound itself makes at that moment, never one the seam adds
(``bench.quality`` reports the changes at seams against those inside chunks).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soxr

from app.inference.builtin import BuiltinMotion
from app.inference.model import MotionOptions
from app.inference.tokens import Token
from app.sessions.decode import DecodedAudio
from app.sessions.speech import SpeechPipeline

CLIP = Path(__file__).resolve().parents[2] / "bench" / "data" / "human" / "librivox-0870.wav"
FPS = 25
MOUTH = [Token.JAW_OPEN, Token.LIP_ROUND, Token.LIP_SPREAD, Token.LIP_PRESS, Token.ENERGY]


def _speech(rate: int) -> npt.NDArray[np.float32]:
    with wave.open(str(CLIP)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
        assert w.getframerate() == 16_000
    return pcm if rate == 16_000 else soxr.resample(pcm, 16_000, rate).astype(np.float32)


def _rows(audio: npt.NDArray[np.float32], rate: int, chunk: int) -> npt.NDArray[np.float32]:
    pipe = SpeechPipeline(BuiltinMotion(None, MotionOptions(fps=FPS)), FPS, 1.0, 0.2)
    for i in range(0, len(audio), chunk):
        pipe.push(DecodedAudio(audio[i : i + chunk], rate), arrived=0.0)
    pipe.finalize()
    rows: npt.NDArray[np.float32] = pipe.take(10**9).rows[:, MOUTH]
    return rows


@pytest.mark.parametrize("rate", [16_000, 44_100])
@pytest.mark.parametrize("chunk_seconds", [0.02, 0.0371, 0.2, 0.5, 1.3])
def test_chunking_changes_nothing(rate: int, chunk_seconds: float) -> None:
    audio = _speech(rate)
    whole = _rows(audio, rate, len(audio))
    chunk = int(chunk_seconds * rate)
    chunked = _rows(audio, rate, chunk)
    assert len(chunked) == len(whole) == round(len(audio) / rate * FPS)
    # at 44.1 kHz the streaming resampler's output equals one-shot resampling to float rounding only
    np.testing.assert_allclose(chunked, whole, atol=1e-4 if rate != 16_000 else 0)
