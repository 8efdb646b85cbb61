"""Face analysis, once per session: find the face, choose the output framing, and locate 478 landmarks on it.

Detection uses MediaPipe's face detector (full range, then short range), falling back to an OpenCV Haar cascade.
Landmarks come from MediaPipe FaceMesh (468 points + 10 iris points) run on a generous crop around the chosen face;
when the mesh finds nothing usable, a landmark template is fitted to the detected box instead. The detector that
produced the landmarks is reported in ``/status``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from app.inference.model import FaceInfo, FaceNotFoundError, Frame, ImageError

__all__ = ["FaceAnalysis", "analyse_face", "template_landmarks"]

log = logging.getLogger(__name__)

Landmarks = npt.NDArray[np.float32]  # (478, 3): x, y in output pixels; z in pixels, negative towards the camera

_DETECT_MAX_SIDE = 1280  # detection runs on a copy no larger than this (speed; faces stay large enough)
_MESH_SIDE = 512  # the mesh runs on a square crop of this size around the face
_CROP_SCALE = 1.9  # output crop side, in face heights (forehead to chin)
_MIN_FACE_PX = 24  # smaller detections are ignored as noise

_lock = threading.Lock()  # MediaPipe graphs are not thread-safe: one analysis at a time (it is fast)
_graphs: dict[str, Any] = {}


@dataclass(frozen=True)
class FaceAnalysis:
    """The output frame and where the face is in it."""

    image: Frame  # output frame, RGB uint8, even dimensions
    landmarks: Landmarks  # (478, 3) in output pixel coordinates
    info: FaceInfo


def _graph(name: str) -> Any:
    import mediapipe as mp  # imported lazily: it is slow to import

    if name not in _graphs:
        if name == "mesh":
            _graphs[name] = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, refine_landmarks=True, max_num_faces=1, min_detection_confidence=0.3
            )
        else:
            _graphs[name] = mp.solutions.face_detection.FaceDetection(
                model_selection=1 if name == "detect-full" else 0, min_detection_confidence=0.5
            )
    return _graphs[name]


def _detect(image: Frame) -> tuple[list[tuple[float, float, float, float]], str]:
    """Face boxes (x, y, w, h) in image pixels, largest first, and the detector that found them."""
    h, w = image.shape[:2]
    scale = min(1.0, _DETECT_MAX_SIDE / max(h, w))
    small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    boxes: list[tuple[float, float, float, float]] = []
    for name in ("detect-full", "detect-short"):
        result = _graph(name).process(small)
        for det in result.detections or []:
            b = det.location_data.relative_bounding_box
            boxes.append((b.xmin * w, b.ymin * h, b.width * w, b.height * h))
        if boxes:
            method = "mediapipe"
            break
    else:
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        cascade = cv2.CascadeClassifier(str(resources.files("cv2") / "data" / "haarcascade_frontalface_default.xml"))
        found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=6, minSize=(_MIN_FACE_PX, _MIN_FACE_PX))
        boxes = [(x / scale, y / scale, bw / scale, bh / scale) for x, y, bw, bh in np.asarray(found).reshape(-1, 4)]
        method = "haar"
    boxes = [b for b in boxes if min(b[2], b[3]) >= _MIN_FACE_PX]
    boxes.sort(key=lambda b: b[2] * b[3], reverse=True)
    return _dedupe(boxes), method


def _dedupe(boxes: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """Drop boxes that mostly overlap a larger one (the same face found twice)."""
    kept: list[tuple[float, float, float, float]] = []
    for b in boxes:
        if all(_overlap(b, k) < 0.5 for k in kept):
            kept.append(b)
    return kept


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / max(1e-6, min(a[2] * a[3], b[2] * b[3]))


def _square_crop(image: Frame, cx: float, cy: float, side: float, size: int) -> tuple[Frame, npt.NDArray[np.float64]]:
    """A ``size`` x ``size`` crop of side ``side`` centred on (cx, cy), edges replicated where it leaves the image.

    Returns the crop and the 2x3 affine matrix mapping image pixels to crop pixels.
    """
    s = size / side
    m = np.array([[s, 0.0, size / 2 - s * cx], [0.0, s, size / 2 - s * cy]])
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(image, m, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(crop, dtype=np.uint8), m


def _mesh(crop: Frame) -> Landmarks | None:
    """478 landmarks in crop pixels, or None when the mesh finds no face."""
    result = _graph("mesh").process(crop)
    if not result.multi_face_landmarks:
        return None
    h, w = crop.shape[:2]
    pts = np.array([(p.x * w, p.y * h, p.z * w) for p in result.multi_face_landmarks[0].landmark], dtype=np.float32)
    return pts if pts.shape == (478, 3) else None


def _apply(m: npt.NDArray[np.float64], pts: Landmarks) -> Landmarks:
    out = pts.copy()
    out[:, :2] = pts[:, :2] @ m[:, :2].T + m[:, 2]
    out[:, 2] = pts[:, 2] * np.sqrt(abs(np.linalg.det(m[:, :2])))
    return out


def _invert(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    full = np.vstack([m, [0.0, 0.0, 1.0]])
    inv: npt.NDArray[np.float64] = np.linalg.inv(full)[:2]
    return inv


def template_landmarks() -> Landmarks:
    """A frontal 478-point template, normalised so that its face-oval box is the unit square."""
    path = resources.files("app.inference.builtin") / "assets" / "template_landmarks.npy"
    with resources.as_file(path) as p:
        out: Landmarks = np.load(p).astype(np.float32)
    return out


def _fit_template(box: tuple[float, float, float, float], method: str) -> Landmarks:
    """Place the template on a detector box: the face oval relative to each detector's box was measured once."""
    x, y, w, h = box
    if method == "mediapipe":  # box spans brows to chin; the oval is a little narrower and reaches the hairline
        ox, oy, ow, oh = x, y + 0.02 * h, 0.85 * w, 0.98 * h
    else:  # Haar: a square from mid-forehead to below the mouth
        ox, oy, ow, oh = x + 0.07 * w, y - 0.08 * h, 0.86 * w, 1.2 * h
    t = template_landmarks().copy()
    t[:, 0] = ox + t[:, 0] * ow
    t[:, 1] = oy + t[:, 1] * oh
    t[:, 2] *= ow
    return t


def _landmarks_near(image: Frame, box: tuple[float, float, float, float]) -> tuple[Landmarks | None, str]:
    """Run the mesh on a generous square crop around a detected box; landmarks in image pixels."""
    x, y, w, h = box
    side = 2.4 * max(w, h)
    crop, m = _square_crop(image, x + w / 2, y + h / 2, side, _MESH_SIDE)
    pts = _mesh(crop)
    if pts is None:
        return None, "template"
    return _apply(_invert(m), pts), "mediapipe-facemesh"


def analyse_face(image: Frame, crop: bool, output_size: int) -> FaceAnalysis:
    """Find the largest face, frame the output (square crop around it, or the whole image), locate landmarks."""
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 32:
        raise ImageError("the image must be an RGB picture of at least 32x32 pixels")
    with _lock:
        boxes, method = _detect(image)
        if not boxes:
            raise FaceNotFoundError(
                "no face was found in the image; use a photo with a clearly visible, roughly frontal face"
            )
        notes: list[str] = []
        if len(boxes) > 1:
            notes.append(f"{len(boxes)} faces found; using the largest")
        box = boxes[0]
        pts, how = _landmarks_near(image, box)
        if pts is None:
            pts = _fit_template(box, method)
            notes.append("the face mesh found no landmarks; a template was fitted to the detected face")
            detector = f"{method}+template"
        else:
            detector = how
        if crop:
            out, m = _frame_crop(image, pts, output_size)
        else:
            out, m = _frame_whole(image, output_size)
        landmarks = _apply(m, pts)
        if detector == "mediapipe-facemesh":  # re-detect on the output itself: sharper landmarks
            again = _mesh(out) if crop else None
            if again is not None and _agrees(again, landmarks):
                landmarks = again
    x, y, w, h = (round(v) for v in box)
    region = _region(m, out, image.shape[1], image.shape[0])
    info = FaceInfo(detector=detector, faces_found=len(boxes), box=(x, y, w, h), crop=region, notes=tuple(notes))
    return FaceAnalysis(np.ascontiguousarray(out), landmarks.astype(np.float32), info)


def _agrees(a: Landmarks, b: Landmarks) -> bool:
    """Two landmark sets describe the same face (guards against the mesh locking onto another face)."""
    size = float(np.ptp(b[:, 1]))
    return float(np.median(np.linalg.norm(a[:, :2] - b[:, :2], axis=1))) < 0.1 * size


def _frame_crop(image: Frame, pts: Landmarks, size: int) -> tuple[Frame, npt.NDArray[np.float64]]:
    top, chin = pts[10, :2], pts[152, :2]
    face_h = float(np.linalg.norm(chin - top))
    cx, cy = (top + chin) / 2
    return _square_crop(image, float(cx), float(cy) - 0.03 * face_h, _CROP_SCALE * face_h, size)


def _frame_whole(image: Frame, size: int) -> tuple[Frame, npt.NDArray[np.float64]]:
    h, w = image.shape[:2]
    s = size / max(h, w)
    ow, oh = max(2, round(w * s / 2) * 2), max(2, round(h * s / 2) * 2)
    m = np.array([[ow / w, 0.0, 0.0], [0.0, oh / h, 0.0]])
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(image, (ow, oh), interpolation=interp), dtype=np.uint8), m


def _region(m: npt.NDArray[np.float64], out: Frame, width: int, height: int) -> tuple[int, int, int, int]:
    """The source-image rectangle that the output frame shows (x, y, w, h), clipped to the image."""
    inv = _invert(m)
    corners = np.array([[0.0, 0.0], [out.shape[1], out.shape[0]]]) @ inv[:, :2].T + inv[:, 2]
    x0, y0 = np.clip(corners[0], 0, [width, height])
    x1, y1 = np.clip(corners[1], 0, [width, height])
    return round(x0), round(y0), round(x1 - x0), round(y1 - y0)
