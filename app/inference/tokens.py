"""Motion tokens: the small, named, per-frame float vector that connects motion models to renderers.

One row per video frame, ``N_TOKENS`` float32 values, indexed by :class:`Token`. Audio analysis fills the mouth and
prosody channels; the animator adds head pose, blinks and gaze in playout order; the renderer consumes the row.
Units and ranges are part of the contract so that other models can plug in on either side.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt

__all__ = ["N_TOKENS", "TOKEN_RANGES", "Token", "TokenArray", "zeros"]

TokenArray = npt.NDArray[np.float32]


class Token(IntEnum):
    """Index of each motion token in a token row."""

    JAW_OPEN = 0  # 0..1: jaw opening; 0 = lips together at rest, 1 = wide open ("aa")
    LIP_ROUND = 1  # 0..1: lip rounding and protrusion, narrower mouth ("oo", "w")
    LIP_SPREAD = 2  # 0..1: lip spreading, wider mouth ("ee")
    LIP_PRESS = 3  # 0..1: lips pressed shut (p, b, m); overrides the opening at the lips
    SMILE = 4  # 0..1: mouth corners up
    BLINK_L = 5  # 0..1: left eyelid (image left), 1 = closed
    BLINK_R = 6  # 0..1: right eyelid (image right), 1 = closed
    BROW = 7  # -1..1: brow raise (+) or frown (-)
    HEAD_PITCH = 8  # degrees, + = chin up
    HEAD_YAW = 9  # degrees, + = face turns towards image right
    HEAD_ROLL = 10  # degrees, + = head tilts counter-clockwise in the image
    HEAD_X = 11  # fraction of face width, + = image right
    HEAD_Y = 12  # fraction of face height, + = image down
    GAZE_X = 13  # -1..1, + = looks towards image right
    GAZE_Y = 14  # -1..1, + = looks down
    ENERGY = 15  # 0..1: speech loudness (prosody; informational for renderers, drives emphasis in the animator)


N_TOKENS = len(Token)

#: Documented (min, max) of each token; renderers may clip to these.
TOKEN_RANGES: dict[Token, tuple[float, float]] = {
    Token.JAW_OPEN: (0.0, 1.0),
    Token.LIP_ROUND: (0.0, 1.0),
    Token.LIP_SPREAD: (0.0, 1.0),
    Token.LIP_PRESS: (0.0, 1.0),
    Token.SMILE: (0.0, 1.0),
    Token.BLINK_L: (0.0, 1.0),
    Token.BLINK_R: (0.0, 1.0),
    Token.BROW: (-1.0, 1.0),
    Token.HEAD_PITCH: (-20.0, 20.0),
    Token.HEAD_YAW: (-20.0, 20.0),
    Token.HEAD_ROLL: (-15.0, 15.0),
    Token.HEAD_X: (-0.2, 0.2),
    Token.HEAD_Y: (-0.2, 0.2),
    Token.GAZE_X: (-1.0, 1.0),
    Token.GAZE_Y: (-1.0, 1.0),
    Token.ENERGY: (0.0, 1.0),
}


def zeros(n_frames: int) -> TokenArray:
    """A rest-pose token array of ``n_frames`` rows."""
    return np.zeros((n_frames, N_TOKENS), dtype=np.float32)
