"""Decoding a source image safely: size limits checked from the header before any pixel is decoded."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from app.inference.model import Frame
from app.sessions.errors import AudioError, TooLargeError

__all__ = ["ImageDecodeError", "load_image"]


class ImageDecodeError(AudioError):
    """The upload is not a decodable image."""

    code = "invalid_image"


def load_image(data: bytes, max_pixels: int) -> Frame:
    """Bytes of any image Pillow reads → RGB uint8 array, EXIF orientation applied."""
    if not data:
        raise ImageDecodeError("the image is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise TooLargeError(f"the image is {width}x{height} pixels; the limit is {max_pixels} pixels")
            img.load()
            oriented = ImageOps.exif_transpose(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLargeError(f"the image is too large to decode safely: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageDecodeError("the upload is not an image Pillow can read (PNG, JPEG, WebP, ...)") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(f"the image could not be decoded: {exc}") from exc
    if min(oriented.size) < 32:
        raise ImageDecodeError(f"the image is {width}x{height} pixels; at least 32x32 is needed")
    return np.asarray(oriented.convert("RGB"), dtype=np.uint8).copy()
