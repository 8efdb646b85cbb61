"""A render failure fails only the session whose frames broke it, not the others rendered in the same batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.conftest import RunningServer
from tests.helpers import open_session, status, wait_for


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
