"""A model failure fails only the session it happened in: a render failure only the session whose frames broke the
batch, an audio-analysis failure only the session being fed, with a clear error; the others keep streaming."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.conftest import RunningServer
from tests.helpers import API, feed_wav, open_session, speech_like, status, wait_for


def test_a_failing_face_fails_only_its_own_session(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    srv = server_factory(tmp_path)
    manager = srv.app.state.manager
    model = manager.agent.model
    with srv.client() as c:
        good = str(open_session(c, face=None)["session_id"])
        bad = str(open_session(c, face=None)["session_id"])
        bad_face = manager.get(bad).face
        render = model.render

        def broken_for_one(faces: Sequence[Any], tokens: Any) -> Any:
            if any(f is bad_face for f in faces):
                raise RuntimeError("this face cannot be rendered")
            return render(faces, tokens)

        model.render = broken_for_one  # both sessions share every clock tick, so every batch holds both
        try:
            wait_for(lambda: status(c, bad)["status"] == "error", timeout=30, what="the broken session to fail")
            assert "rendering failed: this face cannot be rendered" in status(c, bad)["last_error"]
            before = status(c, good)["frames_written"]
            wait_for(lambda: status(c, good)["frames_written"] >= before + 25, timeout=30, what="the good stream")
            assert status(c, good)["status"] == "waiting"
        finally:
            model.render = render


def test_a_model_failing_on_audio_fails_that_session_with_a_clear_error(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    srv = server_factory(tmp_path)
    manager = srv.app.state.manager
    with srv.client() as c:
        good = str(open_session(c, face=None)["session_id"])
        bad = str(open_session(c, face=None)["session_id"])
        motion = manager.get(bad)._speech._motion

        def broken(*args: Any) -> Any:
            raise RuntimeError("cannot analyse this")

        motion.analyse = broken
        audio = speech_like(1.0, 16_000)
        r = feed_wav(c, bad, audio, 16_000)
        assert r.status_code == 500, r.text
        error = r.json()["error"]
        assert error["code"] == "model_error"
        assert "cannot analyse this" in error["message"] and "now in error" in error["message"]
        st = status(c, bad)
        assert st["status"] == "error" and "failed analysing audio" in str(st["last_error"])
        again = feed_wav(c, bad, audio, 16_000)  # a failed session refuses audio plainly, not with a 500
        assert again.status_code == 409 and again.json()["error"]["code"] == "session_closed"
        # the other session and the server are untouched
        assert feed_wav(c, good, audio, 16_000).status_code == 200
        wait_for(lambda: status(c, good)["speech_frames"] >= 25, timeout=30, what="the good session's speech")
        assert status(c, good)["status"] in ("processing", "waiting")
        assert c.get("/healthz").status_code == 200
        assert c.delete(f"{API}/session/{bad}").status_code in (200, 204)
