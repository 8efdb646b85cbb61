"""The model interface: what the session layer and the InferenceAgent need from a talking-head model.

A model has three parts, each used from a known place:

* :meth:`TalkingHeadModel.prepare_face` runs ONCE per session at init (face detection, landmarks, crop, any
  precomputation). It returns a :class:`PreparedFace`.
* :meth:`TalkingHeadModel.motion` makes one :class:`MotionModel` per session. Its :meth:`MotionModel.analyse` turns
  16 kHz speech windows into the audio-driven token channels (mouth, energy), in feed order, with state carried
  across windows. Its :meth:`MotionModel.animate` turns those rows (or idle) into complete token rows in PLAYOUT
  order, adding head pose, blinks and gaze, so idle and speech frames join without jumps.
* :meth:`TalkingHeadModel.render` renders many frames of many sessions in one call (cross-session batching).

Everything here is plain Python + numpy/torch: nothing knows about HTTP.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from app.inference.tokens import TokenArray

__all__ = [
    "FaceInfo",
    "FaceNotFoundError",
    "Frame",
    "ImageError",
    "MotionModel",
    "MotionOptions",
    "PreparedFace",
    "TalkingHeadModel",
]

#: An RGB frame, shape (height, width, 3), uint8, C-contiguous.
Frame = npt.NDArray[np.uint8]

#: Sample rate of the audio that motion models analyse.
ANALYSIS_SAMPLE_RATE = 16_000


class ImageError(ValueError):
    """The source image cannot be used (not decodable, too large, ...). The message is shown to the client."""


class FaceNotFoundError(ImageError):
    """No usable face was found in the source image."""


@dataclass(frozen=True)
class FaceInfo:
    """What face analysis found, reported in ``/status``."""

    detector: str  # which method found the landmarks, e.g. "mediapipe-facemesh" or "haar+template"
    faces_found: int  # number of faces detected in the source image
    box: tuple[int, int, int, int]  # chosen face (x, y, width, height) in source-image pixels
    crop: tuple[int, int, int, int]  # region of the source used for the output (x, y, width, height)
    notes: tuple[str, ...] = ()  # e.g. "2 faces found; using the largest"


@dataclass(frozen=True)
class MotionOptions:
    """Per-session options for motion generation."""

    fps: float = 25.0
    seed: int = 42
    pose_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)  # [pitch, yaw, roll] degrees (reference pose_style)
    gaze_offset: tuple[float, float] = (0.0, 0.0)  # [x, y] in gaze units -1..1 (reference gaze_style)
    liveliness: float = 1.0  # 0 = still head and gaze (blinks remain), 1 = natural, 2 = animated
    nfe: int = 10  # sampling steps, for a model that samples (reference API; list it in unused_params otherwise)
    cfg_scale: float = 2.0  # classifier-free guidance scale, likewise
    extra: dict[str, Any] = field(default_factory=dict)  # model-specific options, passed through untouched


class PreparedFace(ABC):
    """A source image analysed once per session; opaque to everything but its model."""

    @property
    @abstractmethod
    def info(self) -> FaceInfo:
        """What face analysis found."""

    @property
    @abstractmethod
    def size(self) -> tuple[int, int]:
        """Output frame (width, height) in pixels; both even."""

    @abstractmethod
    def rest_frame(self) -> Frame:
        """The frame rendered for rest tokens (used for previews and tests)."""


class MotionModel(ABC):
    """Per-session streaming motion generation.

    :meth:`analyse` is called from the feed path and :meth:`animate` from the frame clock, possibly at the same time
    from two threads: keep their state separate. Neither is ever called concurrently with itself.
    """

    #: Frames of audio the model looks ahead beyond a frame (inside the window it is given); 0 = causal.
    lookahead_frames: int = 0

    @abstractmethod
    def analyse(self, window: npt.NDArray[np.float32], context: int, n_frames: int) -> TokenArray:
        """Audio-driven token rows for the new part of a 16 kHz window.

        ``window[:context]`` is left context already analysed before (overlap); ``window[context:]`` is new audio
        (possibly zero-padded at the end of a stream). Return exactly ``n_frames`` rows covering the new audio,
        with the audio-driven channels filled (mouth shape, ENERGY); other channels 0. State carries over to the
        next call so that the seam between windows is as smooth as the inside of one.
        """

    @abstractmethod
    def animate(self, rows: TokenArray, speaking: npt.NDArray[np.bool_]) -> TokenArray:
        """Complete token rows for the next frames in playout order.

        ``rows[i]`` is the analysed speech row for frame i when ``speaking[i]``, ignored otherwise (idle). Adds head
        pose, blinks, gaze and idle mouth, blending speech↔idle transitions. Deterministic for a given seed and
        sequence of inputs.
        """

    def reset_speech(self) -> None:  # noqa: B027 - optional hook with a sensible default
        """Forget audio state (barge-in): the next :meth:`analyse` starts a fresh utterance."""


class TalkingHeadModel(ABC):
    """A talking-head model: face preparation, motion, batched rendering."""

    #: Registry name (entry point name in group ``talkstream.models``).
    name: str = "model"
    #: Reference API parameters this model ignores (reported as unused in ``/status``).
    unused_params: tuple[str, ...] = ()

    @abstractmethod
    def prepare_face(self, image: Frame, crop: bool, output_size: int) -> PreparedFace:
        """Analyse a source RGB image once. Raises :class:`FaceNotFoundError` when there is no usable face."""

    @abstractmethod
    def motion(self, face: PreparedFace, options: MotionOptions) -> MotionModel:
        """A fresh per-session motion model."""

    @abstractmethod
    def render(self, faces: Sequence[PreparedFace], tokens: TokenArray) -> list[Frame]:
        """Render one frame per (face, token row) pair, batching across sessions; ``len(faces) == len(tokens)``.

        Each returned frame is a new (H, W, 3) uint8 RGB array that the caller owns: it is handed to the encoder
        without a copy, so a model must not return an array it keeps or reuses (a cached frame: return a copy).
        """

    def warmup(self) -> None:  # noqa: B027 - optional hook
        """Load weights / JIT / allocate; called once at server start."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
