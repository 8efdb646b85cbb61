"""The built-in talking-head model: no GPU, no downloads.

Face analysis (MediaPipe face mesh, Haar + template fallback) → a rig of landmark deformations driven by motion tokens
→ a thin-plate-spline warp of the photo with a synthesised mouth interior and eyelids. Motion comes from the audio
(loudness, formants, nasal murmur) and a seeded process for head pose, blinks and gaze. See the modules:
``face`` (analysis), ``motion`` (tokens), ``rig`` (token → landmarks), ``render`` (landmarks → pixels).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import cv2
import numpy as np
import numpy.typing as npt
import torch
from PIL import Image

from app.inference.builtin.face import analyse_face
from app.inference.builtin.motion import BuiltinMotion
from app.inference.builtin.render import RenderData, prepare_render, render_batch
from app.inference.builtin.rig import build_rig
from app.inference.model import FaceInfo, Frame, MotionModel, MotionOptions, PreparedFace, TalkingHeadModel
from app.inference.tokens import TokenArray, zeros

__all__ = ["BuiltinFace", "BuiltinModel", "BuiltinMotion", "default_face_image"]


def default_face_image() -> Frame:
    """The face used when a session is opened without an image (a public-domain NASA portrait)."""
    path = resources.files("app.inference.builtin") / "assets" / "default_face.png"
    with resources.as_file(path) as p, Image.open(p) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


class BuiltinFace(PreparedFace):
    """A photo analysed once: the output frame, its landmarks, rig and render precomputation."""

    def __init__(self, image: Frame, landmarks: npt.NDArray[np.float32], info: FaceInfo) -> None:
        self.image = image
        self.landmarks = landmarks
        self._info = info
        self.rig = build_rig(landmarks, image.shape[1], image.shape[0])
        self.render_data: RenderData = prepare_render(image, landmarks, self.rig)

    @property
    def info(self) -> FaceInfo:
        return self._info

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]

    def rest_frame(self) -> Frame:
        return render_batch([self.render_data], zeros(1))[0]


class BuiltinModel(TalkingHeadModel):
    """The default model (registry name ``builtin``)."""

    name = "builtin"
    unused_params = ("nfe", "cfg_scale")

    def __init__(self, device: str | None = None) -> None:
        # The warp runs on the CPU: its per-frame work is small and latency-bound, and cv2.remap beats a device
        # round trip. ``device`` is accepted for the registry's uniform signature.
        self.device = torch.device(device or "cpu")
        # OpenCV's own thread pool spins against torch's on a small CPU (a 4x slowdown of single-frame renders was
        # measured on 2 cores); frames are small, so OpenCV runs single-threaded and torch owns the parallelism.
        cv2.setNumThreads(1)
        # ... and frames are composited in parallel instead, one per core (the GIL is released in the heavy parts).
        self._pool = ThreadPoolExecutor(max(1, min(4, len(os.sched_getaffinity(0)))), thread_name_prefix="compose")

    def prepare_face(self, image: Frame, crop: bool, output_size: int) -> PreparedFace:
        found = analyse_face(image, crop, output_size)
        return BuiltinFace(found.image, found.landmarks, found.info)

    def motion(self, face: PreparedFace, options: MotionOptions) -> MotionModel:
        return BuiltinMotion(face, options)

    def render(self, faces: Sequence[PreparedFace], tokens: TokenArray) -> list[Frame]:
        data = [_data(f) for f in faces]
        return render_batch(data, tokens, self._pool.map if len(data) > 1 else map)

    def warmup(self) -> None:
        face = self.prepare_face(default_face_image(), True, 128)
        self.render([face], zeros(2))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _data(face: PreparedFace) -> RenderData:
    if not isinstance(face, BuiltinFace):
        raise TypeError("the built-in model renders only faces it prepared")
    return face.render_data
