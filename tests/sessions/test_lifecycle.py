"""Shutdown leaves nothing behind; concurrent feeds to one session are applied whole and in order."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.conftest import RunningServer
from tests.helpers import API, feed_wav, open_session, speech_like, status, wait_for


def _read(path: str) -> str:
    try:
        return Path(path).read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):  # the thread or process just ended
        return ""


def _ffmpeg_children(root: Path) -> list[int]:
    """ffmpeg processes started by this test process that write under ``root`` (other servers' are ignored)."""
    pids = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        pids += [int(p) for p in _read(f"{task}/children").split()]
    return [p for p in pids if "ffmpeg" in (cmd := _read(f"/proc/{p}/cmdline")) and str(root) in cmd]


def test_shutdown_removes_every_process_thread_and_file(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    threads_before = {t.name for t in threading.enumerate()}
    srv = server_factory(tmp_path)
    with srv.client() as c:
        ids = [str(open_session(c, face=None, mode=m)["session_id"]) for m in ("live", "live", "event")]
        assert feed_wav(c, ids[2], speech_like(0.5, 16_000), 16_000).status_code == 200
        wait_for(lambda: all((tmp_path / i / "index.m3u8").exists() for i in ids[:2]), 30, what="live playlists")
    assert len(_ffmpeg_children(tmp_path)) == 3
    srv.stop()
    assert _ffmpeg_children(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == []
    leftover = {t.name for t in threading.enumerate()} - threads_before
    assert not {n for n in leftover if n.startswith(("encoder-", "ffmpeg-err-", "frame-clock", "inference-agent"))}


def test_concurrent_feeds_are_applied_whole(server: RunningServer) -> None:
    sr = 16_000
    chunks = [speech_like(0.37, sr, seed=k) for k in range(12)]
    with server.client() as c:
        sid = str(open_session(c, face=None, mode="event", chunk_duration=0.3)["session_id"])
        errors: list[str] = []

        def send(chunk: np.ndarray) -> None:
            with server.client() as own:
                r = feed_wav(own, sid, chunk, sr)
                if r.status_code != 200:
                    errors.append(r.text)

        workers = [threading.Thread(target=send, args=(ch,)) for ch in chunks]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert errors == []
        r = feed_wav(c, sid, np.zeros(0, np.float32), sr, final=True)
        total = 12 * 0.37
        assert abs(r.json()["total_audio_seconds"] - total) < 1e-6
        assert r.json()["frames_generated"] == round(total * 25)
        wait_for(lambda: status(c, sid)["status"] == "complete", 60, what="complete")
        assert status(c, sid)["speech_frames"] == round(total * 25)
        assert c.delete(f"{API}/session/{sid}").status_code == 200
