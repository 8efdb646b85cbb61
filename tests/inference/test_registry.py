"""The model registry with a second, independently packaged model: the example plugin in examples/plugin_model.

Nothing is pip-installed. The plugin is made discoverable the way an installed distribution is: a real
``*.dist-info`` directory (METADATA + entry_points.txt) under ``tmp_path`` goes on ``sys.path`` together with the
example's source folder, so ``importlib.metadata`` finds the entry point and the import system finds the module.
"""

from __future__ import annotations

import importlib
import io
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import MetadataPathFinder
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from app.inference.model import FaceInfo, FaceNotFoundError, Frame, MotionOptions, PreparedFace, TalkingHeadModel
from app.inference.registry import ENTRY_POINT_GROUP, available_models, load_model
from app.inference.tokens import N_TOKENS, Token, zeros
from tests.conftest import RunningServer
from tests.helpers import API, FACES, decode_frames, feed_wav, open_session, status, wait_for

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugin_model"
PLUGIN = "flat"
MODULE = "talkstream_flat"
SR = 16_000


def _refresh_import_caches() -> None:
    """Forget cached directory listings, so files written during a test are seen by imports and by metadata."""
    importlib.invalidate_caches()
    MetadataPathFinder().invalidate_caches()  # an instance method on 3.11, a classmethod later: works for both


def _write_dist_info(site: Path, project: str, entry_points: dict[str, str]) -> None:
    """What an installer leaves behind: ``<project>-0.1.0.dist-info`` with METADATA and entry_points.txt."""
    dist_info = site / f"{project.replace('-', '_')}-0.1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project}\nVersion: 0.1.0\n")
    lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{name} = {target}" for name, target in entry_points.items())]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    _refresh_import_caches()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site directory where the example plugin is "installed" (its metadata; the code stays in examples/)."""
    site = tmp_path / "site-packages"
    site.mkdir()
    _write_dist_info(site, "talkstream-flat", {PLUGIN: f"{MODULE}:FlatModel"})
    monkeypatch.setattr(sys, "path", [str(site), str(EXAMPLE), *sys.path])
    _refresh_import_caches()
    yield site
    for module in (MODULE, "not_a_model"):
        sys.modules.pop(module, None)


def _image(name: str) -> Frame:
    with Image.open(FACES / name) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def _tone(seconds: float, amplitude: float = 0.5) -> npt.NDArray[np.float32]:
    t = np.arange(round(seconds * SR)) / SR
    wave: npt.NDArray[np.float32] = (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return wave


def _jaw_rows(*values: float) -> npt.NDArray[np.float32]:
    rows = zeros(len(values))
    rows[:, Token.JAW_OPEN] = values
    return rows


def test_available_models_lists_builtin_and_the_plugin(site: Path) -> None:
    names = available_models()
    assert {"builtin", PLUGIN} <= set(names)
    assert names == sorted(names)


def test_load_model_returns_the_plugin_class(site: Path) -> None:
    model = load_model(PLUGIN, device="cpu")
    plugin_class = importlib.import_module(MODULE).FlatModel
    assert type(model) is plugin_class
    assert isinstance(model, TalkingHeadModel)
    assert model.name == PLUGIN and model.unused_params == plugin_class.unused_params


def test_unknown_model_name_lists_the_available_ones(site: Path) -> None:
    with pytest.raises(LookupError) as raised:
        load_model("no-such-model")
    message = str(raised.value)
    assert "'no-such-model'" in message
    assert "builtin" in message and PLUGIN in message


def test_entry_point_that_is_not_a_model_is_a_type_error(site: Path) -> None:
    (site / "not_a_model.py").write_text(
        "class NotAModel:\n    def __init__(self, device: str | None = None) -> None:\n        self.device = device\n"
    )
    _write_dist_info(site, "talkstream-broken", {"broken": "not_a_model:NotAModel"})
    assert "broken" in available_models()
    with pytest.raises(TypeError, match="'broken'"):
        load_model("broken")


def test_the_plugin_obeys_the_model_contract(site: Path) -> None:
    model = load_model(PLUGIN)
    face = model.prepare_face(_image("astronaut.png"), True, 256)
    whole = model.prepare_face(_image("obama.jpg"), False, 255)  # 910x1137 → 204x254: even, within the size
    assert face.size == (256, 256) and whole.size == (204, 254)
    with pytest.raises(FaceNotFoundError):
        model.prepare_face(np.full((64, 64, 3), (90, 140, 200), np.uint8), True, 256)

    motion = model.motion(face, MotionOptions(fps=25))
    window = np.concatenate([np.zeros(SR // 10, np.float32), _tone(0.4)])  # 0.1 s of context, 0.4 s new
    for n_frames in (10, 9, 0):
        rows = motion.analyse(window, SR // 10, n_frames)
        assert rows.shape == (n_frames, N_TOKENS) and rows.dtype == np.float32
        assert np.all(rows[:, Token.JAW_OPEN] == 1.0)  # loud: fully open
    assert np.all(motion.analyse(np.zeros(SR // 5, np.float32), 0, 5) == 0)
    idle = motion.animate(zeros(3), np.zeros(3, np.bool_))
    assert idle.shape == (3, N_TOKENS) and not idle.any()

    faces: list[PreparedFace] = [face, whole, face]
    frames = model.render(faces, _jaw_rows(1.0, 0.5, 0.0))
    assert [f.shape for f in frames] == [(256, 256, 3), (254, 204, 3), (256, 256, 3)]
    assert all(f.dtype == np.uint8 and f.flags.c_contiguous and f.flags.writeable for f in frames)
    for i, frame in enumerate(frames):  # fresh arrays: nothing shared with the face or with each other
        assert not any(np.shares_memory(frame, other) for other in frames[:i])
        assert not np.shares_memory(frame, face.rest_frame())
    assert not frames[0][-64:].any() and np.array_equal(frames[2], face.rest_frame())  # full bar, no bar
    with pytest.raises(TypeError):
        model.render([_ForeignFace()], _jaw_rows(0.0))


class _ForeignFace(PreparedFace):
    """A face some other model prepared."""

    @property
    def info(self) -> FaceInfo:
        return FaceInfo(detector="other", faces_found=1, box=(0, 0, 2, 2), crop=(0, 0, 2, 2))

    @property
    def size(self) -> tuple[int, int]:
        return (2, 2)

    def rest_frame(self) -> Frame:
        return np.zeros((2, 2, 3), np.uint8)


def _distance(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def _small(frame: Frame, size: int) -> npt.NDArray[np.uint8]:
    return np.asarray(Image.fromarray(frame).resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)


def test_a_server_streams_the_plugins_frames(
    site: Path,
    server_factory: Callable[..., RunningServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TALKSTREAM_MODEL", PLUGIN)  # selected the documented way
    size = 128  # frames are compared at this size
    srv = server_factory(tmp_path / "hls")
    try:
        assert srv.settings.model == PLUGIN
        assert type(srv.app.state.manager.agent.model) is importlib.import_module(MODULE).FlatModel
        with srv.client() as c:
            assert c.get("/healthz").json()["model"] == PLUGIN
            blank = io.BytesIO()
            Image.new("RGB", (128, 128), (90, 140, 200)).save(blank, format="PNG")
            r = c.post(f"{API}/init", files={"image": ("blank.png", blank.getvalue(), "image/png")})
            assert r.status_code == 422 and r.json()["error"]["code"] == "no_face", r.text  # the plugin's verdict

            sid = str(open_session(c, face="astronaut.png", mode="event", audio_sample_rate=SR)["session_id"])
            audio = np.concatenate([_tone(1.0), np.zeros(SR, np.float32)])  # 1 s loud, 1 s silence
            r = feed_wav(c, sid, audio, SR, final=True)
            assert r.status_code == 200 and r.json()["frames_generated"] == 50, r.text
            wait_for(lambda: status(c, sid)["status"] == "complete", timeout=120, what="the plugin's stream")
            st = status(c, sid)
        frames = decode_frames(srv.hls_root / sid / "index.m3u8", size=size)  # now: shutdown removes the files
        model = st["model"]
        assert isinstance(model, dict) and model["name"] == PLUGIN
        assert model["unused_params"] == list(srv.app.state.manager.agent.model.unused_params)
        assert "nfe" in model["note"]
        assert st["face"] == {"detector": "none (centre crop)", "faces_found": 0, "notes": [
            "the flat model does no face detection"]}  # fmt: skip
    finally:
        srv.stop()

    assert len(frames) == 50
    reference = load_model(PLUGIN)
    face = reference.prepare_face(_image("astronaut.png"), True, srv.settings.output_size)
    rest = _small(face.rest_frame(), size)
    full_bar = _small(reference.render([face], _jaw_rows(1.0))[0], size)
    bar = slice(size - size // 4 + 4, size)  # the bar's rows at JAW_OPEN = 1, less the blurred top edge
    top = slice(0, size // 2)
    assert _distance(full_bar[bar], rest[bar]) > 40  # the bar is plain to see on this image
    for i in range(2, 24):  # the tone: the bar is up
        assert _distance(frames[i][bar], full_bar[bar]) < 12, i
        assert _distance(frames[i][top], rest[top]) < 12, i
    for i in range(32, 50):  # silence: the bar has fallen back, the picture is the plain source
        assert _distance(frames[i], rest) < 12, i
