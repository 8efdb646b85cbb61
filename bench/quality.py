"""Lip-sync quality and speed of the built-in model, measured on its OUTPUT frames. Prints a Markdown table.

    python -m bench.quality [--faces obama.jpg,biden.jpg] [--clips 24] [--sheet docs/contact-sheet.jpg]

Two corpora with per-phone ground truth: espeak-ng sentences in several voices, from the project's viseme tools
(``../shared/tools/visemes``), and recorded human read speech force-aligned to its transcripts (``bench/data/human``,
made by ``bench.human_corpus``: five sentences from a LibriVox reading and six short phrases, 37 s). Each clip is
streamed through the real speech pipeline (1 s windows with 20% overlap) and rendered; the face mesh is run again on
every rendered frame, and the mouth's openness (inner-lip gap) and width (corner distance) are scored threshold-free:
closure AUC (open vowels vs p/b/m), rounding AUC (rounded vs spread vowels, by width) and the best A/V lag. Also:
with head motion off, the SSIM of the upper face (above the nose) against the source; motion-token and render cost
per frame (unbatched vs 8 sessions batched).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
import wave
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from app.inference.builtin import BuiltinFace, BuiltinModel, BuiltinMotion
from app.inference.builtin.face import _graph
from app.inference.model import MotionOptions
from app.inference.tokens import Token, zeros
from app.sessions.decode import DecodedAudio
from app.sessions.speech import SpeechPipeline
from bench.common import FACES, table

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT.parent / "shared" / "tools" / "visemes"
OUT = Path(__file__).parent / "out" / "quality"
HUMAN = Path(__file__).parent / "data" / "human"
FPS = 25


def _load_tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    assert spec and spec.loader, f"missing {TOOLS / name}.py"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _corpus() -> list[Path]:
    synth = OUT / "corpus" / "synth"
    if not synth.is_dir() or not list(synth.glob("*.json")):
        subprocess.run([sys.executable, str(TOOLS / "synth_corpus.py"), str(OUT / "corpus")], check=True)
    return sorted(synth.glob("*.json"))


def _read_wav(path: Path) -> tuple[npt.NDArray[np.float32], int]:
    with wave.open(str(path)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
        return pcm.reshape(-1, w.getnchannels()).mean(axis=1).astype(np.float32), w.getframerate()


def _analysed(motion: BuiltinMotion, audio: npt.NDArray[np.float32], sr: int, chunk: int) -> npt.NDArray[np.float32]:
    """Audio-driven token rows of a clip streamed through the real speech pipeline in chunks of ``chunk`` samples."""
    pipe = SpeechPipeline(motion, FPS, 1.0, 0.2)
    for i in range(0, len(audio), chunk):
        pipe.push(DecodedAudio(audio[i : i + chunk], sr), arrived=0.0)
    pipe.finalize()
    rows: npt.NDArray[np.float32] = pipe.take(10**9).rows
    return rows


def _tokens(face: BuiltinFace, audio: npt.NDArray[np.float32], sr: int, liveliness: float) -> npt.NDArray[np.float32]:
    motion = BuiltinMotion(face, MotionOptions(fps=FPS, liveliness=liveliness))
    rows = _analysed(motion, audio, sr, sr // 5)  # 200 ms chunks, like a streaming client
    return motion.animate(rows, np.ones(len(rows), dtype=bool))


def _measure(frames: list[npt.NDArray[np.uint8]]) -> tuple[list[float], list[float]]:
    """Openness and width of the mouth, re-detected on each output frame (normalised by face height)."""
    mesh = _graph("mesh")
    openness, width = [], []
    last = (0.0, 0.0)
    for frame in frames:
        res = mesh.process(frame)
        if res.multi_face_landmarks:
            p = np.array([(q.x * frame.shape[1], q.y * frame.shape[0]) for q in res.multi_face_landmarks[0].landmark])
            fh = np.linalg.norm(p[152] - p[10])
            last = (float(np.linalg.norm(p[14] - p[13]) / fh), float(np.linalg.norm(p[291] - p[61]) / fh))
        openness.append(last[0])
        width.append(last[1])
    return openness, width


def _ssim(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    x, y = (cv2.cvtColor(v, cv2.COLOR_RGB2GRAY).astype(np.float64) for v in (a, b))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda v: cv2.GaussianBlur(v, (11, 11), 1.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())


def _score_faces(model: BuiltinModel, faces: list[str], clips: list[Path], score: ModuleType) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in faces:
        face = model.prepare_face(np.asarray(Image.open(FACES / name).convert("RGB")), True, 512)
        assert isinstance(face, BuiltinFace)
        scored = []
        for truth_path in clips:
            truth = json.loads(truth_path.read_text())
            audio, sr = _read_wav(truth_path.with_suffix(".wav"))
            tokens = _tokens(face, audio, sr, liveliness=1.0)
            frames = [f for i in range(0, len(tokens), 8) for f in model.render([face] * len(tokens[i : i + 8]),
                                                                                   tokens[i : i + 8])]  # fmt: skip
            openness, width = _measure(frames)
            scored.append(score.Clip(openness, width, truth["phones"], truth["phone_set"], FPS, truth_path.stem))
        results[name] = score.score_corpus(scored, n_boot=200)
    return results


def _seams(clips: list[Path]) -> dict[str, float]:
    """Mouth-token changes from one frame to the next across 200 ms chunk seams vs inside chunks (all clips pooled),
    and the largest difference from the same audio analysed in one piece."""
    mouth = [Token.JAW_OPEN, Token.LIP_ROUND, Token.LIP_SPREAD, Token.LIP_PRESS]
    seam, inside, diff = [], [], 0.0
    for clip in clips:
        audio, sr = _read_wav(clip.with_suffix(".wav"))
        chunked, whole = (
            _analysed(BuiltinMotion(None, MotionOptions(fps=FPS)), audio, sr, chunk)[:, mouth]
            for chunk in (sr // 5, len(audio))
        )
        diff = max(diff, float(np.abs(chunked - whole).max()))
        steps = np.abs(np.diff(chunked, axis=0)).max(axis=1)
        seams = {int(s / sr * FPS) for s in range(sr // 5, len(audio), sr // 5)}
        for i, step in enumerate(steps):
            (seam if i + 1 in seams else inside).append(float(step))
    return {"seam_max": max(seam), "seam_p99": float(np.percentile(seam, 99)),
            "inside_max": max(inside), "inside_p99": float(np.percentile(inside, 99)), "vs_whole": diff}  # fmt: skip


def _upper_face_ssim(model: BuiltinModel, face: BuiltinFace, clip: Path) -> float:
    audio, sr = _read_wav(clip.with_suffix(".wav"))
    tokens = _tokens(face, audio, sr, liveliness=0.0)
    tokens[:, [Token.BLINK_L, Token.BLINK_R]] = 0  # measure the warp's effect on the upper face, not the blinks
    cut = int(face.landmarks[1, 1])  # nose tip row
    frames = model.render([face] * min(len(tokens), 50), tokens[:50])
    return float(np.mean([_ssim(f[:cut], face.image[:cut]) for f in frames]))


def _speed(model: BuiltinModel, face: BuiltinFace) -> dict[str, float]:
    motion = BuiltinMotion(face, MotionOptions(fps=FPS))
    audio = np.random.default_rng(0).normal(0, 0.1, 16000 * 10).astype(np.float32)
    t = time.perf_counter()
    rows = np.concatenate([motion.analyse(audio[i : i + 16000], 0, 25) for i in range(0, len(audio), 16000)])
    rows = motion.animate(rows, np.ones(len(rows), dtype=bool))
    tokens_ms = (time.perf_counter() - t) / len(rows) * 1000
    out = {"tokens_ms": tokens_ms}
    for batch in (1, 8):
        model.render([face] * batch, rows[:batch])
        t = time.perf_counter()
        n = 0
        while n < 200:
            model.render([face] * batch, rows[n % 200 : n % 200 + batch])
            n += batch
        out[f"render_ms_b{batch}"] = (time.perf_counter() - t) / n * 1000
    return out


def contact_sheet(model: BuiltinModel, faces: list[str], path: Path) -> None:
    """Rest, open vowel, rounded vowel, closure, blink and a head turn for each face, one row per face."""
    shapes = zeros(6)
    shapes[1, Token.JAW_OPEN] = 0.9
    shapes[2, Token.JAW_OPEN], shapes[2, Token.LIP_ROUND] = 0.35, 1.0
    shapes[3, Token.JAW_OPEN], shapes[3, Token.LIP_PRESS] = 0.6, 1.0
    shapes[4, Token.BLINK_L] = shapes[4, Token.BLINK_R] = 1.0
    shapes[5, Token.HEAD_YAW], shapes[5, Token.HEAD_PITCH], shapes[5, Token.JAW_OPEN] = 8.0, 4.0, 0.4
    shapes[5, Token.LIP_SPREAD] = 1.0
    rows = []
    for name in faces:
        face = model.prepare_face(np.asarray(Image.open(FACES / name).convert("RGB")), True, 512)
        tiles = [np.asarray(face.image)] if isinstance(face, BuiltinFace) else []
        tiles += model.render([face] * len(shapes), shapes)
        rows.append(np.concatenate([cv2.resize(t, (256, 256), interpolation=cv2.INTER_AREA) for t in tiles], 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(path, quality=88)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", default="obama.jpg,biden.jpg,astronaut.png")
    parser.add_argument("--clips", type=int, default=72, help="at most this many espeak-ng corpus clips")
    parser.add_argument("--sheet", type=Path, default=ROOT / "docs" / "contact-sheet.jpg")
    args = parser.parse_args()
    faces = args.faces.split(",")
    score = _load_tool("score")
    corpora = {"espeak-ng": _corpus()[: args.clips], "human": sorted(HUMAN.glob("*.json"))}
    model = BuiltinModel()
    results = {corpus: _score_faces(model, faces, clips, score) for corpus, clips in corpora.items()}
    face = model.prepare_face(np.asarray(Image.open(FACES / faces[0]).convert("RGB")), True, 512)
    assert isinstance(face, BuiltinFace)
    ssim = _upper_face_ssim(model, face, corpora["espeak-ng"][0])
    speed = _speed(model, face)
    seams = _seams(corpora["human"])
    contact_sheet(model, faces, args.sheet)
    rows: list[tuple[str, str, str]] = []
    for corpus, by_face in results.items():
        for name, r in by_face.items():
            what = f"{corpus}, {name}:"
            rows.append((f"{what} closure AUC (open vowels vs p/b/m)", f"{r['closure_auc']:.3f}", "≥ 0.90"))
            rows.append((f"{what} rounding AUC (rounded vs spread, width)", f"{r['rounding_auc']:.3f}", "≥ 0.95"))
            rows.append((f"{what} best lag (frames)", str(r["best_lag"]), "0 ± 1"))
    rows.append(
        (
            "human, 200 ms chunks: mouth-token change at a seam, p99 / max",
            f"{seams['seam_p99']:.2f} / {seams['seam_max']:.2f}",
            f"inside chunks {seams['inside_p99']:.2f} / {seams['inside_max']:.2f}",
        )
    )
    rows.append(("same, largest difference from the audio analysed in one piece", f"{seams['vs_whole']:.1g}", "0"))
    rows.append(("upper-face SSIM vs source, head motion off", f"{ssim:.3f}", "≥ 0.9"))
    rows.append(("motion tokens, ms per frame", f"{speed['tokens_ms']:.3f}", "≤ 1 ms"))
    rows.append(("render 512x512, ms per frame, unbatched", f"{speed['render_ms_b1']:.2f}", ""))
    rows.append(("render 512x512, ms per frame, batch of 8", f"{speed['render_ms_b8']:.2f}", "≤ 4 ms"))
    sizes = ", ".join(f"{len(clips)} {corpus} clips" for corpus, clips in corpora.items())
    print(table(f"built-in model quality ({sizes}; mesh re-detected on output)", rows))
    OUT.mkdir(parents=True, exist_ok=True)
    report = {"scores": results, "ssim": ssim, "speed": speed, "seams": seams}
    (OUT / "quality.json").write_text(json.dumps(report, indent=1, default=str))
    print(f"contact sheet: {args.sheet}")


if __name__ == "__main__":
    main()
