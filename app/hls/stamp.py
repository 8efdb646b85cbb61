"""Wall-clock stamps burned into video frames: a benchmark aid for glass-to-glass latency (``bench/glass.py``).

A stamp is :data:`CELLS` square cells of :data:`CELL` pixels, pure black (bit 0) or pure white (bit 1), laid out
in the top rows of the frame left to right and row by row, as many cells per row as the width holds (at most all
of them: two rows of 32 at 512 pixels, four rows of 16 at 256). In order: the start guard :data:`START`, the
48-bit time in ms (most significant bit first), its CRC-8 (polynomial 0x07) and the end guard :data:`END`. Cells
left over in the last row are black. Blocks this large survive H.264 at CRF 23 exactly, and the reader samples
only the centre of each cell, away from the block edges where the codec smears. A page in the browser reads the
same layout back (``bench/glass/glass.js`` mirrors :func:`read_stamp`).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "CELL",
    "CELLS",
    "CHECK_BITS",
    "DARK",
    "DATA_BITS",
    "END",
    "LIGHT",
    "MIN_WIDTH",
    "START",
    "crc8",
    "read_stamp",
    "stamp",
    "stamp_rows",
]

CELL = 16  # pixels per cell side: 16x16 = one H.264 macroblock, aligned with it
START = (1, 0, 1, 1)
END = (0, 1, 0, 0)
DATA_BITS = 48  # ms since the epoch fit until the year 10889
CHECK_BITS = 8
CELLS = len(START) + DATA_BITS + CHECK_BITS + len(END)  # 64
MIN_WIDTH = 16 * CELL  # at least 16 cells per row: at most four rows
DARK, LIGHT = 64, 192  # a cell's centre must be below / above these to count as black / white


def crc8(data: bytes) -> int:
    """CRC-8 of ``data``, polynomial x^8 + x^2 + x + 1 (0x07), initial value 0."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def stamp_rows(width: int) -> int:
    """Pixel rows a stamp takes at the top of a frame ``width`` pixels wide."""
    return math.ceil(CELLS / _columns(width)) * CELL


def stamp(frame: npt.NDArray[np.uint8], ms: int) -> npt.NDArray[np.uint8]:
    """A copy of ``frame`` (H x W x 3 uint8, W ≥ :data:`MIN_WIDTH`) with ``ms`` (0 ≤ ms < 2**48) burned in."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 frame, got {frame.shape} {frame.dtype}")
    height, width = frame.shape[:2]
    if width < MIN_WIDTH or height < stamp_rows(width):
        raise ValueError(f"a {width}x{height} frame is too small for a stamp (width ≥ {MIN_WIDTH})")
    if not 0 <= ms < 1 << DATA_BITS:
        raise ValueError(f"{ms} does not fit in {DATA_BITS} bits")
    data = ms.to_bytes(DATA_BITS // 8, "big")
    bits = [*START, *_bits(ms, DATA_BITS), *_bits(crc8(data), CHECK_BITS), *END]
    cols = _columns(width)
    rows = math.ceil(CELLS / cols)
    grid = np.zeros(rows * cols, dtype=np.uint8)
    grid[:CELLS] = np.array(bits, dtype=np.uint8) * 255
    block = np.kron(grid.reshape(rows, cols), np.ones((CELL, CELL), dtype=np.uint8))
    out = frame.copy()
    out[: rows * CELL, : cols * CELL] = block[:, :, None]
    return out


def read_stamp(pixels: npt.NDArray[np.uint8]) -> int | None:
    """The ms burned into a (decoded) frame by :func:`stamp`, or None when it carries no intact stamp.

    ``pixels``: H x W grey, or H x W x C with RGB in the first three channels (RGB, RGBA from a canvas).
    """
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] < 3):
        raise ValueError(f"expected H x W grey or H x W x C (C ≥ 3) pixels, got {pixels.shape}")
    height, width = pixels.shape[:2]
    if width < MIN_WIDTH or height < stamp_rows(width):
        return None
    cols = _columns(width)
    rows = math.ceil(CELLS / cols)
    luma = _luma(pixels[: rows * CELL, : cols * CELL])
    q = CELL // 4  # sample the centre half of each cell
    cells = luma.reshape(rows, CELL, cols, CELL)[:, q : CELL - q, :, q : CELL - q]
    means = cells.mean(axis=(1, 3)).reshape(-1)[:CELLS]
    if np.any((means >= DARK) & (means <= LIGHT)):
        return None  # a cell neither clearly black nor clearly white: no stamp here
    bits = [int(v > 127) for v in means]
    guard = len(START)
    if tuple(bits[:guard]) != START or tuple(bits[-len(END) :]) != END:
        return None
    ms = _value(bits[guard : guard + DATA_BITS])
    check = _value(bits[guard + DATA_BITS : guard + DATA_BITS + CHECK_BITS])
    return ms if crc8(ms.to_bytes(DATA_BITS // 8, "big")) == check else None


def _columns(width: int) -> int:
    return min(CELLS, width // CELL)


def _bits(value: int, n: int) -> list[int]:
    return [(value >> (n - 1 - i)) & 1 for i in range(n)]


def _value(bits: list[int]) -> int:
    out = 0
    for bit in bits:
        out = (out << 1) | bit
    return out


def _luma(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    if pixels.ndim == 2:
        return pixels.astype(np.float32)
    rgb = pixels[:, :, :3].astype(np.float32)
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    luma: npt.NDArray[np.float32] = rgb @ weights
    return luma
