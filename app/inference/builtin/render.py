"""The built-in renderer: a dense warp of the source photo driven by the rig, plus a synthesised mouth interior.

Per face, once (:func:`prepare_render`):

* a thin-plate spline over the rig's control points is solved and evaluated on a coarse grid over the region that
  may move, giving a fixed basis: per frame, the displacement field is ONE matrix product (moving control points x
  grid; the fixed border points contribute nothing and are left out of it);
* the mouth interior of the photo is filled with lip colour (so that the warp can close an open mouth), its teeth,
  if it shows any, are kept as a layer, and an eyes-closed copy of the eye regions is made for blinks.

Per frame (:func:`render_batch`, batched across sessions): control-point targets → coarse forward field (torch,
grouped by face) → inverted on the coarse grid by a damped fixed-point iteration (torch, whole batch) → upsampled
and applied with ``cv2.remap`` to the moving region only → the mouth interior (dark cavity, teeth, tongue) drawn
inside the current inner-lip contour with soft edges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from app.inference.builtin.rig import EYE_L_LOWER, EYE_L_UPPER, EYE_R_LOWER, EYE_R_UPPER, FaceRig
from app.inference.builtin.rig import LIPS_INNER_LOWER as INNER_LOWER
from app.inference.builtin.rig import LIPS_INNER_UPPER as INNER_UPPER
from app.inference.model import Frame
from app.inference.tokens import Token, TokenArray

__all__ = ["GRID", "RenderData", "prepare_render", "render_batch"]

GRID = 48  # coarse field resolution over the moving region
_INVERT_STEPS = 6
_SUB = 4  # sub-pixel bits for polygon rasterisation (cv2 shift)

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
Teeth = tuple[tuple[int, int], U8, F32]


@dataclass
class RenderData:
    """Everything the renderer precomputes for one face."""

    rig: FaceRig
    source: Frame  # the photo with the mouth interior filled with lip colour
    closed_eyes: Frame  # ``source`` with both eyes closed (lids drawn over the openings)
    eye_masks: list[tuple[tuple[int, int, int, int], npt.NDArray[np.float32]]]  # per eye: box, soft mask
    basis: torch.Tensor  # (M, GRID*GRID) thin-plate basis of the M moving control points over the region of interest
    teeth: Teeth | None  # (x, y) origin, patch, alpha: the photo's own teeth, if it shows them
    lip_colour: npt.NDArray[np.float32]
    teeth_colour: npt.NDArray[np.float32]
    coarse_grid: F32  # (GRID, GRID, 2) pixel coordinates of the coarse grid's points
    edge_fix: list[tuple[tuple[slice, slice], F32]]  # where resizing the coarse grid clamps: the missing offsets


def _tps_basis(ctrl: npt.NDArray[np.float64], roi: tuple[int, int, int, int], moving: int) -> torch.Tensor:
    """Basis B with field(grid) = displacement(ctrl[:moving]).T @ B, for a thin-plate spline through the control
    points whose others (``ctrl[moving:]``) stay fixed. Stored (moving, grid): per frame it is read once, whole."""
    x0, y0, x1, y1 = roi
    scale = max(x1 - x0, y1 - y0)
    c = (ctrl - [x0, y0]) / scale
    n = len(c)

    def kernel(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        r2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        out: npt.NDArray[np.float64] = 0.5 * r2 * np.log(r2 + 1e-12)
        return out

    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = kernel(c, c) + 1e-6 * np.eye(n)  # a little regularisation keeps near-duplicates stable
    system[:n, n] = 1
    system[:n, n + 1 :] = c
    system[n, :n] = 1
    system[n + 1 :, :n] = c.T
    inv = np.linalg.pinv(system)[:, :n]  # (n+3, n): displacements → spline coefficients
    gx = ((np.arange(GRID) + 0.5) * (x1 - x0) / GRID - 0.5) / scale
    gy = ((np.arange(GRID) + 0.5) * (y1 - y0) / GRID - 0.5) / scale
    g = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    design = np.concatenate([kernel(g, c), np.ones((len(g), 1)), g], axis=1)
    return torch.from_numpy(np.ascontiguousarray((design @ inv)[:, :moving].T, dtype=np.float32))


def _poly(points: npt.NDArray[np.float64], shape: tuple[int, ...], offset: tuple[float, float]) -> U8:
    """An anti-aliased filled polygon (sub-pixel vertices) as a uint8 mask of ``shape``."""
    mask = np.zeros(shape[:2], np.uint8)
    pts = np.round((points - offset) * (1 << _SUB)).astype(np.int32)
    cv2.fillPoly(mask, [pts], (255,), lineType=cv2.LINE_AA, shift=_SUB)
    return mask


def _fill_mouth(image: Frame, lm: F32) -> tuple[Frame, Teeth | None]:
    """Fill the photo's open mouth with lip colour; keep its teeth (if bright enough to be teeth) as a layer."""
    contour = np.concatenate([lm[INNER_UPPER, :2], lm[INNER_LOWER[::-1], :2]]).astype(np.float64)
    mask = _poly(contour, image.shape[:2], (0, 0))
    if int(mask.astype(bool).sum()) < 12:
        return image, None
    grown = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=2)
    filled: Frame = np.asarray(cv2.inpaint(image, grown, 7, cv2.INPAINT_TELEA), dtype=np.uint8)
    x, y, w, h = cv2.boundingRect(grown)
    patch = image[y : y + h, x : x + w].copy()
    alpha = (mask[y : y + h, x : x + w].astype(np.float32) / 255.0)[..., None]
    lum = patch.astype(np.float32).mean(axis=2, keepdims=True)
    bright = np.clip((lum - 90.0) / 60.0, 0, 1) * alpha  # teeth are the bright part of the interior
    if float(bright.sum()) < 0.15 * float(alpha.sum()):
        return filled, None
    soft = np.asarray(cv2.GaussianBlur(bright, (3, 3), 0), dtype=np.float32)[..., None]
    return filled, ((x, y), patch, soft)


def _close_eyes(image: Frame, lm: F32) -> tuple[Frame, list[tuple[tuple[int, int, int, int], F32]]]:
    """A copy with each eye opening painted over with lid skin and a soft lash line along the lower lid."""
    closed = image.copy()
    masks = []
    for upper, lower in ((EYE_L_UPPER, EYE_L_LOWER), (EYE_R_UPPER, EYE_R_LOWER)):
        contour = np.concatenate([lm[upper, :2], lm[lower[::-1], :2]]).astype(np.float64)
        opening = _poly(contour, image.shape[:2], (0, 0))
        grown = cv2.dilate(opening, np.ones((3, 3), np.uint8), iterations=2)
        painted = cv2.inpaint(image, grown, 9, cv2.INPAINT_TELEA)
        lash = np.zeros(image.shape[:2], np.uint8)
        lower_pts = np.round(lm[lower, :2].astype(np.float64) * (1 << _SUB) - [0, 1 << _SUB]).astype(np.int32)
        eye_w = float(np.linalg.norm(lm[upper[0], :2] - lm[upper[-1], :2]))
        cv2.polylines(lash, [lower_pts], False, (255,), max(1, round(eye_w / 18)), cv2.LINE_AA, _SUB)
        a = cv2.GaussianBlur(lash, (3, 3), 0).astype(np.float32)[..., None] / 255.0 * 0.55
        dark = painted.astype(np.float32) * 0.35
        region = painted.astype(np.float32) * (1 - a) + dark * a
        x, y, w, h = cv2.boundingRect(cv2.dilate(grown, np.ones((5, 5), np.uint8), iterations=2))
        soft = cv2.GaussianBlur(cv2.dilate(grown, np.ones((3, 3), np.uint8)), (5, 5), 0)[y : y + h, x : x + w]
        alpha = soft.astype(np.float32)[..., None] / 255.0
        box = closed[y : y + h, x : x + w].astype(np.float32)
        closed[y : y + h, x : x + w] = np.round(box * (1 - alpha) + region[y : y + h, x : x + w] * alpha).astype(
            np.uint8
        )
        masks.append(((x, y, w, h), alpha))
    return closed, masks


def prepare_render(image: Frame, landmarks: npt.NDArray[np.float32], rig: FaceRig) -> RenderData:
    """Precompute a face's warp basis, filled mouth, teeth layer and closed eyes."""
    filled, teeth = _fill_mouth(image, landmarks)
    closed, eye_masks = _close_eyes(filled, landmarks)
    lip_colour = _colours_at(image, landmarks[[0, 17, 37, 267, 84, 314]]).mean(axis=0)
    skin = float(_colours_at(image, landmarks[[50, 280, 205, 425]]).mean())
    teeth_colour = np.array([236.0, 230.0, 218.0], np.float32) * np.clip(skin / 165.0, 0.5, 1.05)
    return RenderData(
        rig=rig,
        source=filled,
        closed_eyes=closed,
        eye_masks=eye_masks,
        basis=_tps_basis(rig.base[:, :2], rig.roi, rig.n_moving),
        teeth=teeth,
        lip_colour=lip_colour,
        teeth_colour=teeth_colour,
        coarse_grid=(grid := _coarse_grid(rig.roi)),
        edge_fix=_edge_fix(grid, rig.roi),
    )


def _coarse_grid(roi: tuple[int, int, int, int]) -> F32:
    """Pixel coordinates of the coarse grid's points: cell centres, as ``cv2.resize`` places its samples."""
    x0, y0, x1, y1 = roi
    gx = x0 + (np.arange(GRID) + 0.5) * (x1 - x0) / GRID - 0.5
    gy = y0 + (np.arange(GRID) + 0.5) * (y1 - y0) / GRID - 0.5
    grid: F32 = np.stack(np.meshgrid(gx, gy), axis=-1).astype(np.float32)
    return grid


def _edge_fix(grid: F32, roi: tuple[int, int, int, int]) -> list[tuple[tuple[slice, slice], F32]]:
    """Bilinear upsampling of the coarse grid's coordinates reproduces every pixel's own coordinates exactly,
    except within half a cell of the region's edges, where ``cv2.resize`` clamps to the outermost samples. This is
    what those edge bands lack: added there after resizing, the map is exact everywhere."""
    x0, y0, x1, y1 = roi
    w, h = x1 - x0, y1 - y0
    exact = np.stack(np.meshgrid(np.arange(x0, x1), np.arange(y0, y1)), axis=-1).astype(np.float32)
    missing = exact - cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR)
    bx, by = int(np.ceil(w / GRID / 2)) + 1, int(np.ceil(h / GRID / 2)) + 1
    bands = [
        (slice(0, by), slice(0, w)),
        (slice(h - by, h), slice(0, w)),
        (slice(by, h - by), slice(0, bx)),
        (slice(by, h - by), slice(w - bx, w)),
    ]
    return [(band, np.ascontiguousarray(missing[band])) for band in bands]


def _colours_at(image: Frame, points: F32) -> F32:
    """RGB values of the image at landmark positions (nearest pixel, clipped to the image)."""
    xy = points[:, :2].round().astype(int)
    x = xy[:, 0].clip(0, image.shape[1] - 1)
    y = xy[:, 1].clip(0, image.shape[0] - 1)
    return np.asarray(image[y, x], dtype=np.float32)


def _forward_fields(faces: list[RenderData], disp: list[npt.NDArray[np.float64]]) -> torch.Tensor:
    """(B, 2, GRID, GRID) forward displacement in pixels; one matrix product per distinct face."""
    out = torch.empty((len(faces), 2, GRID, GRID))
    flat = out.view(len(faces), 2, GRID * GRID)
    groups: dict[int, list[int]] = {}
    for i, f in enumerate(faces):
        groups.setdefault(id(f), []).append(i)
    for idx in groups.values():
        basis = faces[idx[0]].basis
        d = torch.from_numpy(np.stack([disp[i][: len(basis)].T for i in idx]).astype(np.float32))  # (k, 2, M)
        flat[idx] = d @ basis
    return out


def _invert(fwd: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Backward fields b with q + b(q) = p where p + fwd(p) = q, by a damped fixed-point iteration.

    ``scales`` (B, 2) converts pixels to grid_sample's normalised units for each face's region.
    """
    lin = torch.linspace(-1 + 1 / GRID, 1 - 1 / GRID, GRID)
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    base = torch.stack([gx, gy], dim=-1)[None]  # (1, G, G, 2)
    s = scales[:, None, None, :]
    back = -fwd
    for _ in range(_INVERT_STEPS):
        at = base + back.permute(0, 2, 3, 1) * s
        sampled = F.grid_sample(fwd, at, mode="bilinear", padding_mode="border", align_corners=False)
        back = back + 0.5 * (-sampled - back)
    return back


Mapper = Callable[[Callable[[int], Frame], Iterable[int]], Iterator[Frame]]


def render_batch(faces: list[RenderData], tokens: TokenArray, map_frames: Mapper = map) -> list[Frame]:
    """Render one frame per (face, token row).

    The fields of the whole batch are computed together; the per-frame compositing (remap, mouth) is run through
    ``map_frames``, e.g. a thread pool's ``map``: OpenCV and NumPy release the GIL for the heavy parts.
    """
    targets = [f.rig.targets(tokens[i : i + 1])[0] for i, f in enumerate(faces)]
    disp = [t - f.rig.base[:, :2] for t, f in zip(targets, faces, strict=True)]
    with torch.inference_mode():
        fwd = _forward_fields(faces, disp)
        scales = torch.tensor(
            [[2.0 / (f.rig.roi[2] - f.rig.roi[0]), 2.0 / (f.rig.roi[3] - f.rig.roi[1])] for f in faces]
        )
        back = _invert(fwd, scales).permute(0, 2, 3, 1).contiguous().numpy()  # (B, G, G, 2) pixels
    return list(map_frames(lambda i: _compose(faces[i], back[i], targets[i], tokens[i]), range(len(faces))))


def _compose(
    face: RenderData, back: npt.NDArray[np.float32], target: npt.NDArray[np.float64], row: TokenArray
) -> Frame:
    x0, y0, x1, y1 = face.rig.roi
    # where each output pixel samples the source: upsampled from the coarse grid in one resize (see _edge_fix)
    where: F32 = np.asarray(
        cv2.resize(face.coarse_grid + back, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR), dtype=np.float32
    )
    for band, missing in face.edge_fix:
        where[band] += missing
    src = _with_blink(face, float(row[Token.BLINK_L]), float(row[Token.BLINK_R]))
    out = face.source.copy()
    # warped straight into the frame's region; one two-channel map, no second one (the stubs lack map2=None)
    cv2.remap(src, where, None, cv2.INTER_LINEAR, dst=out[y0:y1, x0:x1], borderMode=cv2.BORDER_REPLICATE)  # type: ignore[call-overload]
    _draw_mouth(face, out, target, float(row[Token.JAW_OPEN]))
    return out


def _with_blink(face: RenderData, left: float, right: float) -> Frame:
    """The warp source: the filled photo, with the eyes blended towards closed as the lids come down."""
    amounts = [float(np.clip((b - 0.35) / 0.5, 0, 1)) for b in (left, right)]
    if max(amounts) <= 0:
        return face.source
    src = face.source.copy()
    for amount, ((x, y, w, h), alpha) in zip(amounts, face.eye_masks, strict=True):
        if amount > 0:
            a = alpha * amount
            region = src[y : y + h, x : x + w].astype(np.float32)
            closed = face.closed_eyes[y : y + h, x : x + w].astype(np.float32)
            src[y : y + h, x : x + w] = np.round(region * (1 - a) + closed * a).astype(np.uint8)
    return src


def _draw_mouth(face: RenderData, out: Frame, target: npt.NDArray[np.float64], jaw: float) -> None:
    """Draw the mouth interior (cavity, teeth, tongue) inside the current inner-lip contour, behind the lips."""
    rig = face.rig
    upper, lower = target[rig.inner_upper], target[rig.inner_lower]
    gap = float(np.max((lower - upper) @ rig.axes[1]))
    if gap < 0.6:
        return
    contour = np.concatenate([upper, lower[::-1]])
    bx0 = int(max(0, np.floor(contour[:, 0].min()) - 2))
    by0 = int(max(0, np.floor(contour[:, 1].min()) - 2))
    bx1 = int(min(out.shape[1], np.ceil(contour[:, 0].max()) + 3))
    by1 = int(min(out.shape[0], np.ceil(contour[:, 1].max()) + 3))
    if bx1 - bx0 < 2 or by1 - by0 < 2:
        return
    shape = (by1 - by0, bx1 - bx0)
    offset = (float(bx0), float(by0))
    mask = cv2.GaussianBlur(_poly(contour, shape, offset), (3, 3), 0).astype(np.float32)[..., None] / 255.0
    # the cavity: dark, darkest in the middle of the opening
    yy = (np.arange(shape[0], dtype=np.float32)[:, None, None] + by0 - upper[:, 1].mean()) / max(gap, 1.0)
    depth = np.clip(1.0 - 4.0 * (yy - 0.5) ** 2, 0, 1)
    cavity = face.lip_colour * 0.42 * (1 - 0.5 * depth) + np.float32(8.0)
    layer = np.broadcast_to(cavity, (*shape, 3)).astype(np.float32).copy()
    mw = rig.mouth_width
    if face.teeth is not None:  # the photo's own teeth, moving with the upper lip
        (tx, ty), patch, alpha = face.teeth
        lift = target[rig.inner_upper].mean(axis=0) - rig.base[rig.inner_upper, :2].mean(axis=0)
        _paste(layer, patch.astype(np.float32), alpha, tx + lift[0] - bx0, ty + lift[1] - by0)
    else:  # drawn teeth: an upper row under the upper lip, a hint of the lower row when wide open
        _drawn_teeth(layer, face, upper, lower, gap, offset, upper_row=True)
        if gap > 0.22 * mw:
            _drawn_teeth(layer, face, lower, upper, gap, offset, upper_row=False)
    if gap > 0.25 * mw:  # the tongue, low in a wide-open mouth
        centre = lower.mean(axis=0) - rig.axes[1] * 0.2 * gap - offset
        tongue = np.zeros(shape, np.uint8)
        axes = (max(1, round(0.28 * mw)), max(1, round(0.16 * gap)))
        angle = float(np.degrees(np.arctan2(rig.axes[0][1], rig.axes[0][0])))
        cv2.ellipse(tongue, (round(centre[0]), round(centre[1])), axes, angle, 0, 360, (255,), -1, cv2.LINE_AA)
        g_alpha = cv2.GaussianBlur(tongue, (5, 5), 0).astype(np.float32)[..., None] / 255.0 * (min(1.0, jaw) * 0.8)
        layer = (layer * (1 - g_alpha) + face.lip_colour * 0.75 * g_alpha).astype(np.float32)
    region = out[by0:by1, bx0:bx1].astype(np.float32)
    out[by0:by1, bx0:bx1] = np.round(region * (1 - mask) + layer * mask).astype(np.uint8)


def _drawn_teeth(
    layer: npt.NDArray[np.float32],
    face: RenderData,
    lip: npt.NDArray[np.float64],
    other: npt.NDArray[np.float64],
    gap: float,
    offset: tuple[float, float],
    upper_row: bool,
) -> None:
    """Paint one row of teeth along an inner lip contour into ``layer`` (the mouth interior, offset by ``offset``).

    The row follows the dental arch: teeth narrow and shorten towards the corners, where they also fall into the
    shadow of the cheeks; each tooth is separated from the next by a faint line that opens into a small notch at the
    biting edge; the part under the lip is shaded by it. Drawn only for photos that do not show their own teeth.
    """
    mw = face.rig.mouth_width
    both = np.concatenate([lip, other])
    # the mouth's current axes from its corners (they follow head roll and shift)
    ax = face.rig.axes[0]
    proj = both @ ax
    left, right = both[int(np.argmin(proj))], both[int(np.argmax(proj))]
    across = right - left
    half = max(float(np.linalg.norm(across)) / 2, 1.0)
    ax_u = across / (2 * half)
    ax_v = np.array([-ax_u[1], ax_u[0]]) * (1.0 if upper_row else -1.0)  # from the lip into the mouth
    centre = (left + right) / 2
    h, w = layer.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    rel_x, rel_y = xx + offset[0] - centre[0], yy + offset[1] - centre[1]
    s = np.clip((rel_x * ax_u[0] + rel_y * ax_u[1]) / half, -1.0, 1.0)  # -1 … 1 corner to corner
    depth_px = rel_x * ax_v[0] + rel_y * ax_v[1]
    # height of the row: a share of the opening, shorter towards the corners
    full = min(0.42 * gap, 0.1 * mw) if upper_row else min(0.18 * gap, 0.05 * mw)
    lip_s = np.clip(((lip - centre) @ ax_u) / half, -1.0, 1.0)
    lip_d = (lip - centre) @ ax_v
    order = np.argsort(lip_s)
    lip_line = np.interp(s, lip_s[order], lip_d[order])  # where the lip edge is, per pixel column
    height = full * (1.0 - 0.35 * s**2)
    v = (depth_px - lip_line) / np.maximum(height, 0.5)  # 0 at the lip edge, 1 at the biting edge
    alpha = np.clip(v * 4.0 + 1.0, 0.0, 1.0) * np.clip((1.0 - v) * max(height.max(), 1.0), 0.0, 1.0)
    # teeth along the arch: equal steps in arch angle, so narrower towards the corners (4.5 teeth a side)
    t = np.arcsin(s * 0.97) / (np.pi / 2) * 4.5
    d = np.abs(t - np.round(t))
    edge = np.clip((v - 0.7) / 0.3, 0.0, 1.0)
    alpha *= 1.0 - np.exp(-((d / 0.13) ** 2)) * edge * 0.9  # notches between the tips
    shade = (0.72 + 0.28 * np.clip(v / 0.45, 0.0, 1.0)) * (1.0 - 0.5 * np.abs(s) ** 2.5)
    shade *= 1.0 - 0.12 * np.exp(-((d / 0.07) ** 2))  # the line between two teeth
    # the row fades into the dark corners of the mouth; of the lower row only the front teeth show
    fade = np.clip((0.85 - np.abs(s)) / 0.3, 0.0, 1.0)  # the corners of the mouth stay dark
    alpha *= fade if upper_row else 0.4 * fade * np.exp(-((s / 0.35) ** 2))
    alpha *= 0.92 if upper_row else 0.85
    shade *= 1.0 if upper_row else 0.7
    # teeth in the mouth's shade take a little of the lips' warmth
    tint = 0.85 * face.teeth_colour + 0.15 * face.lip_colour
    colour = tint[None, None, :] * shade[..., None]
    a = alpha[..., None].astype(np.float32)
    layer[:] = layer * (1 - a) + colour.astype(np.float32) * a


def _paste(
    layer: npt.NDArray[np.float32], patch: npt.NDArray[np.float32], alpha: npt.NDArray[np.float32], x: float, y: float
) -> None:
    """Alpha-blend ``patch`` into ``layer`` at a (rounded) offset, clipped to the layer."""
    ix, iy = round(x), round(y)
    h, w = patch.shape[:2]
    lx0, ly0 = max(0, ix), max(0, iy)
    lx1, ly1 = min(layer.shape[1], ix + w), min(layer.shape[0], iy + h)
    if lx1 <= lx0 or ly1 <= ly0:
        return
    p = patch[ly0 - iy : ly1 - iy, lx0 - ix : lx1 - ix]
    a = alpha[ly0 - iy : ly1 - iy, lx0 - ix : lx1 - ix]
    layer[ly0:ly1, lx0:lx1] = layer[ly0:ly1, lx0:lx1] * (1 - a) + p * a
