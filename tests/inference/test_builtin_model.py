"""The built-in model end to end on synthetic speech sounds: the mouth seen on the OUTPUT frames (face mesh run
again on them) opens for open vowels, presses shut for a nasal murmur, narrows for rounded and widens for spread
vowels. Looser bounds than bench/quality.py, which scores real phoneme timings."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from scipy.signal import lfilter

from app.inference.builtin import BuiltinFace, BuiltinModel, BuiltinMotion, default_face_image
from app.inference.builtin.face import _graph
from app.inference.model import FaceNotFoundError, MotionOptions
from app.inference.tokens import Token, zeros
from app.sessions.decode import DecodedAudio
from app.sessions.speech import SpeechPipeline
from tests.helpers import FACES

SR = 16_000
# (F1, F2, F3) of a few sounds, an adult male voice; the murmur is a nasal: one low resonance, little else
SOUNDS = {"a": (750, 1200, 2500), "i": (290, 2300, 3000), "u": (310, 850, 2300), "m": (260, 1100, 2400)}


def _vowel(formants: tuple[int, int, int], seconds: float, f0: float, level: float) -> npt.NDArray[np.float32]:
    """A glottal pulse train through three resonators (source-filter speech synthesis)."""
    n = int(seconds * SR)
    src = np.zeros(n)
    src[:: int(SR / f0)] = 1.0
    src = lfilter([1.0], [1.0, -0.95], src)  # glottal roll-off
    out = src
    for f, bw in zip(formants, (80, 110, 160), strict=True):
        r = np.exp(-np.pi * bw / SR)
        out = lfilter([1 - r], [1.0, -2 * r * np.cos(2 * np.pi * f / SR), r * r], out)
    return (level * out / np.abs(out).max()).astype(np.float32)


def _murmur(seconds: float, level: float) -> npt.NDArray[np.float32]:
    low = _vowel(SOUNDS["m"], seconds, 115, 1.0)
    b, a = [0.02], [1.0, -0.98]  # lips closed: only the low resonance radiates
    radiated = lfilter(b, a, low)
    return (level * radiated / np.abs(radiated).max()).astype(np.float32)


@pytest.fixture(scope="module")
def model() -> BuiltinModel:
    return BuiltinModel()


@pytest.fixture(scope="module")
def face(model: BuiltinModel) -> BuiltinFace:
    found = model.prepare_face(np.asarray(Image.open(FACES / "biden.jpg").convert("RGB")), True, 384)
    assert isinstance(found, BuiltinFace)
    return found


def _mouth(frames: list[npt.NDArray[np.uint8]]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    mesh = _graph("mesh")
    gap, width = [], []
    for f in frames:
        res = mesh.process(f)
        assert res.multi_face_landmarks, "the face mesh lost the face on a rendered frame"
        p = np.array([(q.x * f.shape[1], q.y * f.shape[0]) for q in res.multi_face_landmarks[0].landmark])
        fh = np.linalg.norm(p[152] - p[10])
        gap.append(np.linalg.norm(p[14] - p[13]) / fh)
        width.append(np.linalg.norm(p[291] - p[61]) / fh)
    return np.array(gap), np.array(width)


def _render_sound(
    model: BuiltinModel, face: BuiltinFace, audio: npt.NDArray[np.float32]
) -> list[npt.NDArray[np.uint8]]:
    motion = BuiltinMotion(face, MotionOptions(liveliness=0.0))
    pipe = SpeechPipeline(motion, 25, 0.5, 0.2)
    for i in range(0, len(audio), SR // 5):
        pipe.push(DecodedAudio(audio[i : i + SR // 5], SR), arrived=0.0)
    pipe.finalize()
    rows = pipe.take(10**6).rows
    tokens = motion.animate(rows, np.ones(len(rows), dtype=bool))
    tokens[:, [Token.BLINK_L, Token.BLINK_R]] = 0
    steady = tokens[10:-3]  # skip the onset and the padded tail
    return model.render([face] * len(steady), steady)


def test_mouth_on_output_follows_the_sound(model: BuiltinModel, face: BuiltinFace) -> None:
    measured = {}
    for name in ("a", "i", "u"):
        measured[name] = _mouth(_render_sound(model, face, _vowel(SOUNDS[name], 0.8, 115, 0.3)))
    measured["m"] = _mouth(_render_sound(model, face, _murmur(0.8, 0.2)))
    gap = {k: float(np.median(v[0])) for k, v in measured.items()}
    width = {k: float(np.median(v[1])) for k, v in measured.items()}
    assert gap["a"] > 2 * gap["m"] + 0.01, gap  # open vowel vs lips pressed on a nasal murmur
    assert gap["a"] > gap["i"] and gap["a"] > gap["u"], gap  # "a" is the most open
    assert width["u"] < 0.93 * width["i"], width  # rounded narrower than spread


def test_silence_closes_the_mouth_to_rest_and_same_seed_same_video(model: BuiltinModel, face: BuiltinFace) -> None:
    audio = np.concatenate([_vowel(SOUNDS["a"], 0.6, 120, 0.3), np.zeros(SR, np.float32)])
    frames = _render_sound(model, face, audio)
    again = _render_sound(model, face, audio)
    assert all(np.array_equal(x, y) for x, y in zip(frames, again, strict=True))
    quiet = frames[-10:]
    rest = face.rest_frame()
    assert max(float(np.abs(f.astype(int) - rest.astype(int)).mean()) for f in quiet) < 1.0


def test_blink_closes_the_eyes_and_head_motion_keeps_background(model: BuiltinModel, face: BuiltinFace) -> None:
    tokens = zeros(3)
    tokens[1, Token.BLINK_L] = tokens[1, Token.BLINK_R] = 1.0
    tokens[2, Token.HEAD_YAW], tokens[2, Token.HEAD_ROLL] = 6.0, 4.0
    rest, blink, turned = model.render([face] * 3, tokens)
    lm = face.landmarks
    for upper, lower in ((159, 145), (386, 374)):
        x = int(lm[upper, 0])
        y0, y1 = int(lm[upper, 1]), int(lm[lower, 1]) + 1
        assert np.abs(blink[y0:y1, x - 3 : x + 4].astype(int) - rest[y0:y1, x - 3 : x + 4].astype(int)).mean() > 8
    assert np.abs(turned.astype(int) - rest.astype(int)).mean() > 0.5  # the head moved
    corner = (slice(0, 24), slice(0, 24))  # the background far from the head did not
    assert np.array_equal(turned[corner], rest[corner])


def test_faces_small_multiple_and_missing(model: BuiltinModel) -> None:
    small = model.prepare_face(np.asarray(Image.open(FACES / "biden.jpg").convert("RGB")), True, 512)
    assert small.info.detector == "mediapipe-facemesh" and small.size == (512, 512)
    whole = model.prepare_face(np.asarray(Image.open(FACES / "biden.jpg").convert("RGB")), False, 512)
    assert whole.size[1] == 512 and whole.size[0] % 2 == 0 and whole.size[0] < 512
    two = model.prepare_face(np.asarray(Image.open(FACES / "two_people.jpg").convert("RGB")), True, 256)
    assert two.info.faces_found == 2 and "largest" in " ".join(two.info.notes)
    default = model.prepare_face(default_face_image(), True, 256)
    assert default.info.faces_found == 1
    blank = np.full((300, 300, 3), 128, np.uint8)
    with pytest.raises(FaceNotFoundError, match="no face"):
        model.prepare_face(blank, True, 256)
