"""The face rig: how motion tokens move a face's landmarks, built once per session from its 478 landmarks.

Every deformation is expressed in a face-aligned frame (u along the eye line, v down the face, origin between the
lips) so that a tilted face opens its mouth along its own axis. Head rotation uses the mesh's depth. The rig's
control points are a fixed-size set: selected landmarks, a ring around the head that follows it, and fixed points on
the border of the region that may move (the background outside it never moves).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.inference.tokens import Token, TokenArray

__all__ = ["LIPS_INNER_LOWER", "LIPS_INNER_UPPER", "FaceRig", "build_rig"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

# MediaPipe FaceMesh indices (image left = the subject's right side).
LIPS_INNER_UPPER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]  # corner to corner
LIPS_INNER_LOWER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
LIPS_OUTER_UPPER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LIPS_OUTER_LOWER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
LIP_MID_UPPER = [62, 183, 42, 41, 38, 12, 268, 271, 272, 407, 292]
LIP_MID_LOWER = [62, 96, 89, 179, 86, 15, 316, 403, 319, 325, 292]
EYE_L_UPPER = [33, 246, 161, 160, 159, 158, 157, 173, 133]
EYE_L_LOWER = [33, 7, 163, 144, 145, 153, 154, 155, 133]
EYE_R_UPPER = [263, 466, 388, 387, 386, 385, 384, 398, 362]
EYE_R_LOWER = [263, 249, 390, 373, 374, 380, 381, 382, 362]
IRIS_L = [468, 469, 470, 471, 472]
IRIS_R = [473, 474, 475, 476, 477]
BROWS = [70, 63, 105, 66, 107, 46, 53, 52, 65, 55, 336, 296, 334, 293, 300, 276, 283, 282, 295, 285]
OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176,
        149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]  # fmt: skip
NOSE = [1, 2, 4, 5, 6, 168, 197, 195, 98, 327, 129, 358, 48, 278]
CHEEKS = [50, 280, 205, 425, 187, 411, 123, 352, 116, 345, 207, 427, 192, 416, 214, 434, 135, 364, 138, 367, 210, 430]
CHIN = [175, 199, 200, 18, 83, 313, 201, 421, 208, 428, 171, 396, 32, 262, 140, 369, 169, 394, 170, 395, 211, 431,
        194, 418, 204, 424, 202, 422, 57, 287, 43, 273, 106, 335, 182, 406]  # fmt: skip
FOREHEAD = [151, 9, 8, 108, 337, 69, 299, 104, 333, 68, 298]

_LANDMARKS = list(dict.fromkeys(
    LIPS_INNER_UPPER + LIPS_INNER_LOWER + LIPS_OUTER_UPPER + LIPS_OUTER_LOWER + LIP_MID_UPPER + LIP_MID_LOWER
    + EYE_L_UPPER + EYE_L_LOWER + EYE_R_UPPER + EYE_R_LOWER + IRIS_L + IRIS_R + BROWS + OVAL + NOSE + CHEEKS + CHIN
    + FOREHEAD
))  # fmt: skip
N_RING = 24
N_BORDER_SIDE = 8
N_CONTROL = len(_LANDMARKS) + N_RING + 4 * N_BORDER_SIDE

_MAX_GAP = 0.45  # widest inner-lip opening, in mouth widths


def _pos(indices: list[int]) -> npt.NDArray[np.int64]:
    where = {lm: i for i, lm in enumerate(_LANDMARKS)}
    return np.array([where[i] for i in indices], dtype=np.int64)


def _smoothstep(lo: float, hi: float, x: F64) -> F64:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    out: F64 = t * t * (3 - 2 * t)
    return out


@dataclass
class FaceRig:
    """Control points of one face and per-point weights of every deformation (all arrays over control points)."""

    base: F64  # (N, 3) rest positions in output pixels (x, y, depth)
    roi: tuple[int, int, int, int]  # (x0, y0, x1, y1): the region that may move
    axes: F64  # (2, 2): rows are the u and v unit vectors in image coordinates
    origin: F64  # (2,) mouth centre
    mouth_width: float
    face_height: float
    face_width: float
    centre3d: F64  # (3,) head rotation centre
    w_jaw: F64  # how much each point follows the jaw (0..1)
    prof: F64  # opening profile across the mouth (1 at the centre, 0 at the corners; 1 off the lips)
    src_gap: F64  # source inner-lip gap each point must close to rest (pixels along v)
    w_lift: F64  # upper-lip lift with opening
    w_lips: F64  # lips (1), surrounding skin (partial) for rounding/spreading
    u: F64  # face-frame u of each point (relative to the mouth centre)
    outer_sign: F64  # +1 lower outer lip, -1 upper outer lip, 0 otherwise (thickness changes)
    corner: F64  # 1 at the mouth corners
    lid_gap: F64  # per upper-lid point: distance to its lower-lid partner (pixels along v)
    lid_lower: F64  # 1 for lower-lid points
    eye_side: npt.NDArray[np.int64]  # 0 left eye, 1 right eye, -1 not an eye point
    iris: F64  # 1 for iris points
    eye_width: float
    brow: F64  # brow raise weight
    head: F64  # how much each point follows the head (1 face, <1 ring, 0 border)
    inner_upper: npt.NDArray[np.int64]  # control indices of the inner lip contours (for compositing)
    inner_lower: npt.NDArray[np.int64]

    @property
    def n_moving(self) -> int:
        """Control points that may move come first; the fixed border points after them never do."""
        return len(self.base) - 4 * N_BORDER_SIDE

    def targets(self, tokens: TokenArray) -> F64:
        """Control-point positions (n, N, 2) in output pixels for token rows (n, N_TOKENS)."""
        t = tokens.astype(np.float64)
        n = len(t)
        jaw, rnd, spr = t[:, Token.JAW_OPEN, None], t[:, Token.LIP_ROUND, None], t[:, Token.LIP_SPREAD, None]
        press, smile = t[:, Token.LIP_PRESS, None], t[:, Token.SMILE, None]
        mw = self.mouth_width
        gap = np.clip(jaw, 0, 1) * (1 - np.clip(press, 0, 1)) * _MAX_GAP * mw * (1 + 0.15 * rnd)
        du = np.zeros((n, len(self.base)))
        dv = self.w_jaw * (gap * self.prof - self.src_gap) - self.w_lift * gap * self.prof
        du += self.w_lips * self.u * (-0.58 * rnd + 0.3 * spr + 0.06 * smile)
        dv += self.outer_sign * mw * (0.05 * rnd - 0.035 * press)
        dv -= self.corner * mw * (0.03 * spr + 0.06 * smile)
        dv -= self.brow * self.face_height * 0.035 * t[:, Token.BROW, None]
        blink = np.where(self.eye_side == 0, t[:, Token.BLINK_L, None], t[:, Token.BLINK_R, None])
        blink = np.where(self.eye_side >= 0, np.clip(blink, 0, 1), 0.0)
        dv += blink * (0.8 * self.lid_gap - 0.12 * self.lid_lower * self.eye_width * 0.3)
        du += self.iris * t[:, Token.GAZE_X, None] * 0.2 * self.eye_width
        dv += self.iris * t[:, Token.GAZE_Y, None] * 0.1 * self.eye_width
        xy = self.base[None, :, :2] + du[..., None] * self.axes[0] + dv[..., None] * self.axes[1]
        return self._pose(xy, t)

    def _pose(self, xy: F64, t: F64) -> F64:
        """Rotate (pitch, yaw, roll about a centre inside the head) and shift; weighted per point."""
        rad = np.deg2rad(t[:, [Token.HEAD_PITCH, Token.HEAD_YAW, Token.HEAD_ROLL]])
        p = np.concatenate([xy, np.broadcast_to(self.base[None, :, 2:], (*xy.shape[:2], 1))], axis=2)
        c = self.centre3d
        rel = p - c
        # the face frame's axes in image space: u (right), v (down); depth is z
        u = rel[..., :2] @ self.axes[0]
        v = rel[..., :2] @ self.axes[1]
        z = rel[..., 2]
        pitch, yaw, roll = (rad[:, i, None] for i in range(3))
        # yaw turns about the v axis, pitch about the u axis (chin up = +), roll in the image plane (ccw = +)
        u1 = u * np.cos(yaw) + z * np.sin(yaw)
        z1 = -u * np.sin(yaw) + z * np.cos(yaw)
        v1 = v * np.cos(pitch) + z1 * np.sin(pitch)
        u2 = u1 * np.cos(roll) + v1 * np.sin(roll)
        v2 = -u1 * np.sin(roll) + v1 * np.cos(roll)
        shift_u = t[:, Token.HEAD_X, None] * self.face_width
        shift_v = t[:, Token.HEAD_Y, None] * self.face_height
        du = (u2 - u + shift_u) * self.head
        dv = (v2 - v + shift_v) * self.head
        out: F64 = xy + du[..., None] * self.axes[0] + dv[..., None] * self.axes[1]
        return out


def build_rig(landmarks: F32, width: int, height: int) -> FaceRig:
    """Build the rig of a face from its 478 landmarks in an output frame of ``width`` x ``height``."""
    lm = landmarks.astype(np.float64)
    eye_l = lm[[33, 133]].mean(axis=0)[:2]
    eye_r = lm[[263, 362]].mean(axis=0)[:2]
    ax_u = (eye_r - eye_l) / max(1e-6, float(np.linalg.norm(eye_r - eye_l)))
    ax_v = np.array([-ax_u[1], ax_u[0]])
    axes = np.stack([ax_u, ax_v])
    origin = (lm[13, :2] + lm[14, :2]) / 2
    mw = float(np.linalg.norm(lm[291, :2] - lm[61, :2]))
    fh = float(np.linalg.norm(lm[152, :2] - lm[10, :2]))
    fw = float(np.linalg.norm(lm[454, :2] - lm[234, :2]))
    pts = lm[_LANDMARKS]
    rel = pts[:, :2] - origin
    u, v = rel @ ax_u, rel @ ax_v
    n_lm = len(pts)

    def mark(indices: list[int], value: float = 1.0, arr: F64 | None = None) -> F64:
        out = np.zeros(n_lm) if arr is None else arr
        out[_pos(indices)] = value
        return out

    corners = [78, 308, 61, 291, 62, 292]
    lower_lip = [i for i in LIPS_INNER_LOWER + LIPS_OUTER_LOWER + LIP_MID_LOWER if i not in corners]
    upper_lip = [i for i in LIPS_INNER_UPPER + LIPS_OUTER_UPPER + LIP_MID_UPPER if i not in corners]
    v_chin = float((lm[152, :2] - origin) @ ax_v)
    # the jaw: everything below the mouth line, fading towards the jaw angles (near the pivot, they move less)
    lateral = np.clip(1 - (np.abs(u) / (0.55 * fw)) ** 2, 0, 1) ** 0.5
    w_jaw = _smoothstep(0.02 * fh, 0.2 * v_chin, v) * (0.25 + 0.75 * lateral)
    w_jaw = mark(lower_lip, 1.0, w_jaw)
    w_jaw = mark(corners, 0.45, w_jaw)
    w_jaw = mark(upper_lip, 0.0, w_jaw)
    half = 0.5 * mw
    lip_pts = set(lower_lip + upper_lip + corners)
    on_lips = np.array([i in lip_pts for i in _LANDMARKS])
    prof = np.where(on_lips, np.sqrt(np.clip(1 - (u / (1.05 * half)) ** 2, 0, 1)), 1.0)
    # source gap to close at rest: per lip point from the inner contours, the centre gap for the jaw below
    iu, il = lm[LIPS_INNER_UPPER, :2] - origin, lm[LIPS_INNER_LOWER, :2] - origin
    gap_u = np.clip(il @ ax_v - iu @ ax_v, 0, None)
    order = np.argsort(iu @ ax_u)
    gap_at = np.interp(u, (iu @ ax_u)[order], gap_u[order], left=0.0, right=0.0)
    src_gap = np.where(on_lips, gap_at, float(gap_u.max()))
    w_lift = mark(upper_lip, 0.12)
    w_lips = np.where(on_lips, 1.0, np.clip(1 - np.hypot(u / (1.6 * half), v / (1.2 * half)), 0, 1) * 0.5)
    outer_sign = mark([i for i in LIPS_OUTER_LOWER if i not in corners], 1.0)
    outer_sign = mark([i for i in LIPS_OUTER_UPPER if i not in corners], -1.0, outer_sign)
    corner = mark(corners)
    # eyes: upper-lid points close onto their lower partner; the iris follows the gaze
    lid_gap = np.zeros(n_lm)
    eye_side = -np.ones(n_lm, dtype=np.int64)
    for side, (up, lo, irs) in enumerate(((EYE_L_UPPER, EYE_L_LOWER, IRIS_L), (EYE_R_UPPER, EYE_R_LOWER, IRIS_R))):
        gaps = (lm[lo, :2] - lm[up, :2]) @ ax_v
        lid_gap[_pos(up[1:-1])] = np.clip(gaps[1:-1], 0, None)
        eye_side[_pos(up + lo + irs)] = side
    lid_lower = mark(EYE_L_LOWER[1:-1] + EYE_R_LOWER[1:-1])
    iris = mark(IRIS_L + IRIS_R)
    eye_width = float(np.linalg.norm(lm[133, :2] - lm[33, :2]) + np.linalg.norm(lm[263, :2] - lm[362, :2])) / 2
    brow = mark(BROWS)
    brow = mark(FOREHEAD, 0.3, brow)

    # ring around the head (follows it; the neck below follows less) and a fixed border
    centre = lm[OVAL, :2].mean(axis=0)
    oval_rel = lm[OVAL, :2] - centre
    a = 1.3 * float(np.abs(oval_rel @ ax_u).max())
    b = 1.25 * float(np.abs(oval_rel @ ax_v).max())
    ang = np.linspace(0, 2 * np.pi, N_RING, endpoint=False)
    ring_uv = np.stack([a * np.cos(ang), b * np.sin(ang)], axis=1)
    ring = centre + ring_uv @ axes
    ring_head = np.where(np.sin(ang) > 0.3, 0.45, 0.85)  # lower ring points are on the neck
    margin = 0.35 * max(a, b)
    x0 = int(max(0, np.floor(ring[:, 0].min() - margin)))
    y0 = int(max(0, np.floor(ring[:, 1].min() - margin)))
    x1 = int(min(width, np.ceil(ring[:, 0].max() + margin)))
    y1 = int(min(height, np.ceil(ring[:, 1].max() + margin)))
    s = np.linspace(0, 1, N_BORDER_SIDE, endpoint=False)
    bx0, by0, bx1, by1 = x0 - 0.5, y0 - 0.5, x1 - 0.5, y1 - 0.5
    border = np.concatenate([
        np.stack([bx0 + s * (bx1 - bx0), np.full_like(s, by0)], 1),
        np.stack([np.full_like(s, bx1), by0 + s * (by1 - by0)], 1),
        np.stack([bx1 - s * (bx1 - bx0), np.full_like(s, by1)], 1),
        np.stack([np.full_like(s, bx0), by1 - s * (by1 - by0)], 1),
    ])  # fmt: skip
    z_face = float(np.median(pts[:, 2]))
    extra = np.concatenate([ring, border])
    base = np.concatenate([pts, np.concatenate([extra, np.full((len(extra), 1), z_face)], axis=1)])
    n_extra = len(extra)

    def ext(arr: F64, fill: float = 0.0) -> F64:
        return np.concatenate([arr, np.full(n_extra, fill)])

    ring_rel = ring - origin
    centre3d = np.array([*(lm[[6, 152], :2].mean(axis=0)), z_face + 0.75 * fw])
    return FaceRig(
        base=base,
        roi=(x0, y0, x1, y1),
        axes=axes,
        origin=origin,
        mouth_width=mw,
        face_height=fh,
        face_width=fw,
        centre3d=centre3d,
        w_jaw=ext(w_jaw),
        prof=ext(prof, 1.0),
        src_gap=ext(src_gap),
        w_lift=ext(w_lift),
        w_lips=ext(w_lips),
        u=np.concatenate([u, ring_rel @ ax_u, np.zeros(len(border))]),
        outer_sign=ext(outer_sign),
        corner=ext(corner),
        lid_gap=ext(lid_gap),
        lid_lower=ext(lid_lower),
        eye_side=np.concatenate([eye_side, -np.ones(n_extra, dtype=np.int64)]),
        iris=ext(iris),
        eye_width=eye_width,
        brow=ext(brow),
        head=np.concatenate([np.ones(n_lm), ring_head, np.zeros(len(border))]),
        inner_upper=_pos(LIPS_INNER_UPPER),
        inner_lower=_pos(LIPS_INNER_LOWER),
    )
