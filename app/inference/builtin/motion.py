"""The built-in motion model: speech audio → mouth tokens; a seeded process → head pose, blinks and gaze.

Audio analysis (per video frame, a 25 ms window centred on the frame, 16 kHz):

* loudness: RMS level against an adaptive speech range (noise floor and peak trackers carried across chunks);
* vowel openness: energy where an open vowel's first formant sits (550-1100 Hz) against the band below it;
* lip rounding vs spreading: spread vowels (i, e) have a high second formant and strong 1.5-3.5 kHz energy with
  almost nothing at 0.8-1.5 kHz; rounded ones (u, o, w) lower every formant, putting F2 in 0.8-1.5 kHz. Band
  energies read this reliably where formant tracking (LPC) does not;
* lip closure: a nasal murmur or voice bar (m, b) puts almost all energy below ~400 Hz; stop closures (p, b) and
  pauses are quiet. Either presses the lips together.

Coarticulation is an asymmetric smoother whose state carries across chunks; it is causal (no look-ahead, so no added
latency) and mouth closures act within one frame.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from app.inference.model import ANALYSIS_SAMPLE_RATE, MotionModel, MotionOptions, PreparedFace
from app.inference.tokens import N_TOKENS, Token, TokenArray

__all__ = ["AudioFeatures", "BuiltinMotion"]

_WIN = 400  # 25 ms analysis window at 16 kHz
_NFFT = 512
_FREQS = np.fft.rfftfreq(_NFFT, 1 / ANALYSIS_SAMPLE_RATE)


def _band(lo: float, hi: float) -> npt.NDArray[np.bool_]:
    return np.asarray((lo <= _FREQS) & (hi > _FREQS))


_B70_400, _B400_2500, _B70_8000 = _band(70, 400), _band(400, 2500), _band(70, 8000)
_B100_550, _B550_1100 = _band(100, 550), _band(550, 1100)
_B100_1000, _B1500_3500 = _band(100, 1000), _band(1500, 3500)
_B100_800, _B800_1500 = _band(100, 800), _band(800, 1500)
_B4000_8000 = _band(4000, 8000)
_HANN = np.hanning(_WIN).astype(np.float32)
_HISTORY = 2 * _WIN + 1024  # stream tail kept between windows (covers a frame hop up to 1024 samples)
_SILENCE_DB = -55.0  # below this a frame is silence whatever the trackers say


class AudioFeatures:
    """Per-frame acoustic features of ``(n, 400)`` analysis windows (arrays of length n, levels in dB)."""

    def __init__(self, frames: npt.NDArray[np.float32]) -> None:
        power = np.mean(frames.astype(np.float64) ** 2, axis=1)
        self.db = 10 * np.log10(power + 1e-10)
        spec = np.abs(np.fft.rfft(frames * _HANN, _NFFT, axis=1)) ** 2 + 1e-12

        def ratio(num: npt.NDArray[np.bool_], den: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
            out: npt.NDArray[np.float64] = 10 * np.log10(spec[:, num].sum(1) / spec[:, den].sum(1))
            return out

        # Where the first two formants sit, read from band energies (robust where formant tracking is not):
        self.f1_high = ratio(_B550_1100, _B100_550)  # open vowels: F1 high in 550-1100 Hz
        self.bright = ratio(_B1500_3500, _B100_1000)  # spread vowels: strong F2/F3 at 1.5-3.5 kHz
        self.mid = ratio(_B800_1500, _B100_800)  # rounded vowels: F2 low, at 0.8-1.5 kHz; spread ones leave it empty
        self.nasal_db = ratio(_B70_400, _B400_2500)  # m/b murmur: nearly all energy below 400 Hz
        high = spec[:, _B4000_8000].sum(1)
        self.fricative = high / spec[:, _B70_8000].sum(1)  # s, f, sh: most energy above 4 kHz


def _sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = 1 / (1 + np.exp(-x))
    return out


class _Smoother:
    """Asymmetric one-pole smoothing per channel (fast attack, slower release); state survives chunk seams."""

    def __init__(self, attack: npt.NDArray[np.float64], release: npt.NDArray[np.float64]) -> None:
        self.attack, self.release = attack, release
        self.state = np.zeros(len(attack))

    def run(self, targets: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out = np.empty_like(targets)
        s = self.state
        for i, t in enumerate(targets):
            rate = np.where(t > s, self.attack, self.release)
            s = s + rate * (t - s)
            out[i] = s
        self.state = s
        return out


class BuiltinMotion(MotionModel):
    """Per-session motion: :meth:`analyse` (feed order) and :meth:`animate` (playout order) keep separate state."""

    lookahead_frames = 0

    def __init__(self, face: PreparedFace | None, options: MotionOptions) -> None:
        self.options = options
        self.fps = options.fps
        self._hop = ANALYSIS_SAMPLE_RATE / options.fps
        self._reset_audio_state()
        self._peak_db = -22.0  # loudness trackers persist across utterances (same speaker, same microphone)
        self._floor_db = -60.0
        # playout state
        self._rng = np.random.default_rng(options.seed)
        self._t = 0  # frames played
        self._ou = np.zeros(6)  # yaw, pitch, roll, x, y, brow (unit-variance Ornstein-Uhlenbeck processes)
        self._nod = np.zeros(2)  # nod position and velocity (degrees)
        self._energy_slow = 0.0
        self._mouth = np.zeros(5)  # last played mouth channels (for speech → idle blending)
        self._next_blink = self._blink_interval() * 0.5
        self._blink_start = -1e9
        self._gaze = np.zeros(2)
        self._gaze_target = np.zeros(2)
        self._next_saccade = self._rng.uniform(0.5, 2.0)

    # -- audio → mouth (feed order) --------------------------------------------------------------------------------
    def _reset_audio_state(self) -> None:
        self._pos = 0  # 16 kHz samples before the current window's new audio
        self._history = np.zeros(0, np.float32)  # the last samples of the stream, for windows across seams
        self._frames = 0  # rows produced
        # jaw, round, spread, press, energy
        # lip shape follows within a frame or two: read speech changes vowel every ~100 ms (a slower release cost
        # 0.02-0.03 rounding AUC on recorded human speech)
        self._smooth = _Smoother(np.array([0.75, 0.9, 0.9, 0.95, 0.6]), np.array([0.55, 0.8, 0.8, 0.6, 0.3]))

    def reset_speech(self) -> None:
        self._reset_audio_state()

    def analyse(self, window: npt.NDArray[np.float32], context: int, n_frames: int) -> TokenArray:
        rows = np.zeros((n_frames, N_TOKENS), dtype=np.float32)
        new = window[context:]
        # the model keeps its own tail of the stream, so frames that straddle a window seam see their whole
        # analysis window however short the overlap the buffer provides
        audio = np.concatenate([self._history, new])
        start = self._pos - len(self._history)  # stream position of audio[0]
        if n_frames:
            centres = (np.arange(self._frames, self._frames + n_frames) + 0.5) * self._hop - start
            starts = np.round(centres - _WIN / 2).astype(np.int64)
            padded = np.concatenate([np.zeros(_WIN, np.float32), audio, np.zeros(2 * _WIN, np.float32)])
            idx = np.clip(starts[:, None] + _WIN + np.arange(_WIN)[None, :], 0, len(padded) - 1)
            mouth = self._smooth.run(self._targets(AudioFeatures(padded[idx])))
            rows[:, Token.JAW_OPEN] = mouth[:, 0]
            rows[:, Token.LIP_ROUND] = mouth[:, 1]
            rows[:, Token.LIP_SPREAD] = mouth[:, 2]
            rows[:, Token.LIP_PRESS] = mouth[:, 3]
            rows[:, Token.ENERGY] = mouth[:, 4]
        self._history = audio[-_HISTORY:].astype(np.float32, copy=True)
        self._pos += len(new)
        self._frames += n_frames
        return rows

    def _targets(self, f: AudioFeatures) -> npt.NDArray[np.float64]:
        """Per-frame target mouth channels [jaw, round, spread, press, energy] before smoothing."""
        level = np.empty(len(f.db))
        for i, db in enumerate(f.db):  # adaptive speech range, updated frame by frame
            if db > _SILENCE_DB:
                self._peak_db = max(db, self._peak_db - 0.01)
                self._floor_db = min(db, self._floor_db + 0.02)
            span = max(15.0, self._peak_db - max(self._floor_db, _SILENCE_DB))
            level[i] = np.clip((db - (self._peak_db - span)) / span, 0.0, 1.0) if db > _SILENCE_DB else 0.0
        voiced = np.clip((level - 0.15) / 0.35, 0, 1)
        f1_open = _sigmoid((f.f1_high + 2.0) / 4.0)
        spread_cue = f.bright - f.mid  # large for i/e (F2 high, nothing at 0.8-1.5 kHz), small or negative for u/o
        fric = np.clip((f.fricative - 0.3) / 0.4, 0, 1)
        nasal = _sigmoid((f.nasal_db - 12.0) / 2.5) * (1 - f1_open)
        press = np.maximum(nasal * (voiced > 0), np.clip((0.12 - level) / 0.12, 0, 1))
        jaw = level**0.7 * (0.25 + 0.75 * f1_open) * (1 - 0.5 * fric) * (1 - press)
        # wide-open vowels round less, but open-mid rounded ones (o in "more", "four") keep most of it
        rounding = _sigmoid((2.0 - spread_cue) / 4.0) * _sigmoid((2.0 - f.f1_high) / 6.0) * voiced
        spread = _sigmoid((spread_cue - 15.0) / 6.0) * voiced
        return np.stack([jaw, rounding, spread, press, level], axis=1)

    # -- playout: head, blinks, gaze, idle (clock order) -------------------------------------------------------------
    def _blink_interval(self) -> float:
        return float(np.clip(self._rng.gamma(4.0, 0.9), 1.5, 8.0))

    def animate(self, rows: TokenArray, speaking: npt.NDArray[np.bool_]) -> TokenArray:
        out = np.array(rows, dtype=np.float32, copy=True)
        live = self.options.liveliness
        dt = 1.0 / self.fps
        pitch0, yaw0, roll0 = self.options.pose_offset
        gx0, gy0 = self.options.gaze_offset
        theta = math.exp(-dt / 0.8)  # OU correlation time 0.8 s: slow, smooth wandering
        for i in range(len(out)):
            row = out[i]
            t = self._t * dt
            self._ou = theta * self._ou + math.sqrt(1 - theta * theta) * self._rng.standard_normal(6)
            mouth = np.array([row[Token.JAW_OPEN], row[Token.LIP_ROUND], row[Token.LIP_SPREAD], row[Token.LIP_PRESS],
                              row[Token.ENERGY]])  # fmt: skip
            if not speaking[i]:  # idle: the mouth relaxes to rest from wherever speech left it
                mouth = self._mouth * 0.55
            self._mouth = mouth
            energy = float(mouth[4])
            rise = max(0.0, energy - self._energy_slow)
            self._energy_slow += 0.15 * (energy - self._energy_slow)
            # nods: emphasis (a rise in loudness) kicks the chin down, a damped spring brings it back
            self._nod[1] += -6.0 * rise * live - 40.0 * self._nod[0] * dt - 9.0 * self._nod[1] * dt
            self._nod[0] += self._nod[1] * dt
            amp = live * (1.0 + 0.8 * self._energy_slow)
            breath = math.sin(2 * math.pi * 0.22 * t)
            row[Token.JAW_OPEN], row[Token.LIP_ROUND], row[Token.LIP_SPREAD] = mouth[0], mouth[1], mouth[2]
            row[Token.LIP_PRESS], row[Token.ENERGY] = mouth[3], mouth[4]
            row[Token.HEAD_YAW] = yaw0 + amp * 2.2 * self._ou[0]
            row[Token.HEAD_PITCH] = pitch0 + amp * 1.3 * self._ou[1] + self._nod[0] + live * 0.4 * breath
            row[Token.HEAD_ROLL] = roll0 + amp * 1.0 * self._ou[2]
            row[Token.HEAD_X] = amp * 0.006 * self._ou[3]
            row[Token.HEAD_Y] = amp * 0.004 * self._ou[4] + live * 0.002 * breath
            row[Token.BROW] = np.clip(live * (0.15 * self._ou[5] + 1.5 * rise), -1, 1)
            blink = self._blink(t)
            row[Token.BLINK_L] = row[Token.BLINK_R] = blink
            gaze = self._saccade(t, live)
            row[Token.GAZE_X], row[Token.GAZE_Y] = gx0 + gaze[0], gy0 + gaze[1]
            self._t += 1
        return out

    def _blink(self, t: float) -> float:
        if t >= self._next_blink:
            self._blink_start = t
            self._next_blink = t + self._blink_interval()
            if self._rng.random() < 0.12:  # sometimes a quick double blink
                self._next_blink = t + 0.45
        age = t - self._blink_start
        if age < 0.08:
            return age / 0.08
        if age < 0.12:
            return 1.0
        return max(0.0, 1.0 - (age - 0.12) / 0.18)

    def _saccade(self, t: float, live: float) -> npt.NDArray[np.float64]:
        if t >= self._next_saccade:
            self._next_saccade = t + self._rng.uniform(0.8, 3.0)
            self._gaze_target = self._rng.normal(0, 0.12, 2) * np.array([1.0, 0.5]) * live
        self._gaze += 0.5 * (self._gaze_target - self._gaze)
        return self._gaze
