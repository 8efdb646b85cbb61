"""talkstream-flat: a deliberately simple model plugin for talkstream.

It exists to show the plugin interface end to end, and it is honest about how little it does:

* **face**: the source image is centre-cropped to a square (``crop=True``) or kept whole, and resized to the output
  size. There is no face detection and there are no landmarks: the "face" is wherever the photo has it. The only
  image it refuses is one with no detail at all (a flat colour).
* **motion**: audio loudness (RMS per frame) drives one token channel, ``JAW_OPEN`` (and ``ENERGY``). No head
  pose, blinks or gaze.
* **render**: the source frame with a black bar rising from the bottom edge, as tall as ``JAW_OPEN`` says: a level
  meter, not a mouth.

Selected with ``TALKSTREAM_MODEL=flat`` once installed (see README.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image

from app.inference.model import (
    FaceInfo,
    FaceNotFoundError,
    Frame,
    MotionModel,
    MotionOptions,
    PreparedFace,
    TalkingHeadModel,
)
from app.inference.tokens import Token, TokenArray, zeros

__all__ = ["BAR_FRACTION", "FlatFace", "FlatModel", "FlatMotion", "bar_height"]

#: Height of the bar at ``JAW_OPEN == 1``, as a fraction of the frame height.
BAR_FRACTION = 0.25
#: RMS (full scale 1.0) at which the bar is full; quieter audio fills it proportionally.
FULL_SCALE_RMS = 0.1
#: RMS below which a frame counts as silence (so background noise does not flicker the bar).
NOISE_FLOOR_RMS = 0.005
#: Time constant (s) of the bar's fall when the audio gets quieter; it rises at once.
RELEASE_SECONDS = 0.08
#: Pixel standard deviation (per channel) below which a source image has nothing in it that could be a face.
MIN_DETAIL = 2.0


def bar_height(jaw_open: float, frame_height: int) -> int:
    """Rows of the bar drawn for a ``JAW_OPEN`` value in a frame ``frame_height`` pixels tall."""
    return round(min(max(jaw_open, 0.0), 1.0) * BAR_FRACTION * frame_height)


class FlatFace(PreparedFace):
    """A source image resized once to the output frame; nothing else is precomputed."""

    def __init__(self, image: Frame, info: FaceInfo) -> None:
        self.image = image  # (H, W, 3) uint8, never modified after construction: render copies it
        self._info = info

    @property
    def info(self) -> FaceInfo:
        return self._info

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]

    def rest_frame(self) -> Frame:
        return _with_bar(self.image, 0.0)


class FlatMotion(MotionModel):
    """Loudness → ``JAW_OPEN``: instant rise, exponential fall.

    :meth:`analyse` keeps no state (each frame's value depends only on its own audio), so a seam between windows is
    trivially as smooth as the inside of one. All smoothing happens in :meth:`animate`, in playout order, where the
    same fall also blends speech into idle. The two methods touch disjoint attributes, as they may run at the same
    time on two threads.
    """

    lookahead_frames = 0

    def __init__(self, options: MotionOptions) -> None:
        self._fall = math.exp(-1.0 / (options.fps * RELEASE_SECONDS))  # per-frame decay factor
        self._shown = 0.0  # JAW_OPEN of the last animated frame (animate side only)

    def analyse(self, window: npt.NDArray[np.float32], context: int, n_frames: int) -> TokenArray:
        new = window[context:]
        edges = np.linspace(0, len(new), n_frames + 1).round().astype(int)
        rows = zeros(n_frames)
        for i in range(n_frames):
            level = _loudness(new[edges[i] : edges[i + 1]])
            rows[i, Token.JAW_OPEN] = level
            rows[i, Token.ENERGY] = level
        return rows

    def animate(self, rows: TokenArray, speaking: npt.NDArray[np.bool_]) -> TokenArray:
        out = zeros(len(rows))
        for i in range(len(rows)):
            target = float(rows[i, Token.JAW_OPEN]) if speaking[i] else 0.0
            self._shown = max(target, self._shown * self._fall)
            out[i, Token.JAW_OPEN] = self._shown
            out[i, Token.ENERGY] = rows[i, Token.ENERGY] if speaking[i] else 0.0
        return out


class FlatModel(TalkingHeadModel):
    """The ``flat`` model: a resized photo with a loudness bar. CPU only, no weights, no downloads."""

    name = "flat"
    unused_params = ("nfe", "cfg_scale", "seed", "pose_style", "gaze_style", "liveliness")

    def __init__(self, device: str | None = None) -> None:
        # Nothing runs on a device; the registry passes ``device`` to every model, so it is accepted and kept.
        self.device = device

    def prepare_face(self, image: Frame, crop: bool, output_size: int) -> PreparedFace:
        if float(image.std(axis=(0, 1)).max()) < MIN_DETAIL:  # per channel: a flat colour has no face
            raise FaceNotFoundError("the image is a single flat colour; there is no face in it")
        height, width = image.shape[:2]
        if crop:
            side = min(width, height)
            region = ((width - side) // 2, (height - side) // 2, side, side)
            out_w = out_h = _even(output_size)
        else:
            region = (0, 0, width, height)
            scale = output_size / max(width, height)
            out_w, out_h = _even(width * scale), _even(height * scale)
        x, y, w, h = region
        resized = Image.fromarray(image[y : y + h, x : x + w]).resize((out_w, out_h), Image.Resampling.LANCZOS)
        info = FaceInfo(
            detector="none (centre crop)" if crop else "none (whole image)",
            faces_found=0,  # nothing was detected: the flat model frames the image, not a face
            box=region,
            crop=region,
            notes=("the flat model does no face detection",),
        )
        return FlatFace(np.array(resized, dtype=np.uint8), info)

    def motion(self, face: PreparedFace, options: MotionOptions) -> MotionModel:
        return FlatMotion(options)

    def render(self, faces: Sequence[PreparedFace], tokens: TokenArray) -> list[Frame]:
        """One new frame per (face, row). A GPU model would stack the batch into one tensor here; a copy and a
        slice assignment per frame need no batching."""
        if len(faces) != len(tokens):
            raise ValueError(f"{len(faces)} faces but {len(tokens)} token rows")
        pairs = zip(faces, tokens, strict=True)
        return [_with_bar(_flat(face).image, float(row[Token.JAW_OPEN])) for face, row in pairs]


def _with_bar(image: Frame, jaw_open: float) -> Frame:
    frame = image.copy()  # a fresh array every time: the caller hands it to the encoder without copying
    rows = bar_height(jaw_open, frame.shape[0])
    if rows:
        frame[-rows:] = 0
    return frame


def _loudness(samples: npt.NDArray[np.float32]) -> float:
    """0..1 from the RMS of one frame's audio."""
    if samples.size == 0:
        return 0.0
    rms = math.sqrt(float(np.mean(np.square(samples, dtype=np.float64))))
    return min(max((rms - NOISE_FLOOR_RMS) / (FULL_SCALE_RMS - NOISE_FLOOR_RMS), 0.0), 1.0)


def _even(value: float) -> int:
    """The even size of at least 2 pixels at or just below ``value`` (H.264 needs even frame sizes)."""
    return max(2, 2 * math.floor(value / 2))


def _flat(face: PreparedFace) -> FlatFace:
    if not isinstance(face, FlatFace):
        raise TypeError(f"the flat model renders only faces it prepared, not {type(face).__name__}")
    return face
