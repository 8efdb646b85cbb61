"""Live mode on a real server: paced to the wall clock, idle fill through pauses, interrupt, independent sessions."""

from __future__ import annotations

import time

import httpx
import numpy as np

from tests.conftest import RunningServer
from tests.helpers import API, feed_wav, open_session, playlist_segments, speech_like, status, wait_for


def _segments(server: RunningServer, sid: str) -> tuple[int, list[str], list[float]]:
    path = server.hls_root / sid / "index.m3u8"
    return playlist_segments(path.read_text()) if path.exists() else (0, [], [])


def _listed(server: RunningServer, sid: str) -> int:
    seq, names, _ = _segments(server, sid)
    return seq + len(names)


def _assert_contiguous(seq: int, names: list[str]) -> None:
    numbers = [int(n.split("_")[1].split(".")[0]) for n in names]
    assert numbers == list(range(seq, seq + len(names))), numbers


def _feed_realtime(c: httpx.Client, sid: str, audio: np.ndarray, sr: int, chunk: float = 0.2) -> None:
    step = int(chunk * sr)
    start = time.monotonic()
    for i, pos in enumerate(range(0, len(audio), step)):
        r = feed_wav(c, sid, audio[pos : pos + step], sr)
        assert r.status_code == 200, r.text
        delay = start + (i + 1) * chunk - time.monotonic()  # real-time pace, on a monotonic schedule
        if delay > 0:
            time.sleep(delay)


def test_live_stream_keeps_growing_through_pauses(server: RunningServer) -> None:
    sr = 24_000
    with server.client() as c:
        sid = str(open_session(c, face="astronaut.png", chunk_duration=0.2)["session_id"])
        started = time.monotonic()
        wait_for(lambda: _listed(server, sid) >= 1, timeout=30, what="the first idle segment")
        served = c.get(f"/hls/{sid}/index.m3u8").text  # 8-frame segments; a target of 0 (ffmpeg's) is served as 1
        assert "#EXT-X-TARGETDURATION:1\n" in served and "#EXTINF:0.320000," in served, served
        speech = speech_like(1.5, sr, seed=4)
        _feed_realtime(c, sid, speech, sr)
        # a pause with no audio at all: idle frames must keep the playlist growing
        before = _listed(server, sid)
        wait_for(lambda: _listed(server, sid) >= before + 4, timeout=30, what="segments during the pause")
        _feed_realtime(c, sid, speech_like(1.0, sr, seed=5), sr)
        r = feed_wav(c, sid, np.zeros(0, np.float32), sr, final=True)
        assert r.status_code == 200, r.text
        wait_for(lambda: status(c, sid)["status"] == "complete", timeout=60, what="live stream to complete")
        elapsed = time.monotonic() - started
        st = status(c, sid)
    seq, names, durations = _segments(server, sid)
    _assert_contiguous(seq, names)
    assert st["speech_frames"] == round(2.5 * 25)  # every fed frame played, none twice
    assert st["idle_frames"] > 25  # the pause and the start were filled with idle frames
    total = (st["speech_frames"] + st["idle_frames"]) / 25
    assert seq == 0  # a few seconds fit in the sliding window: every segment is still listed
    assert abs(sum(durations) - total) < 0.02  # the timeline has no holes: listed time == frames written
    head_start = (8 + 2) / 25  # the first segment and the 2 frames that close it are rendered at once
    assert total <= elapsed + head_start + 0.1  # paced to the wall clock: ahead only by the head start
    assert (server.hls_root / sid / "index.m3u8").read_text().rstrip().endswith("#EXT-X-ENDLIST")
    assert st["latency"]["count"] > 0 and st["latency"]["p95"] is not None


def test_interrupt_drops_queued_speech_and_stream_continues(server: RunningServer) -> None:
    sr = 16_000
    with server.client() as c:
        sid = str(open_session(c, chunk_duration=0.5)["session_id"])
        r = feed_wav(c, sid, speech_like(8.0, sr, seed=6), sr)  # far more than real time: it queues
        assert r.status_code == 200
        assert r.json()["buffered_seconds"] > 5
        r = c.post(f"{API}/interrupt/{sid}")
        assert r.status_code == 200, r.text
        assert r.json()["dropped_seconds"] > 5
        st = status(c, sid)
        assert st["status"] == "waiting" and st["buffered_seconds"] == 0
        listed = _listed(server, sid)
        wait_for(lambda: _listed(server, sid) >= listed + 2, timeout=30, what="idle segments after interrupt")
        # speech after an interrupt plays normally
        r = feed_wav(c, sid, speech_like(0.6, sr, seed=7), sr, final=True)
        assert r.status_code == 200
        wait_for(lambda: status(c, sid)["status"] == "complete", timeout=60, what="complete after interrupt")
        assert c.delete(f"{API}/session/{sid}").status_code == 200


def test_two_sessions_stay_independent(server: RunningServer) -> None:
    sr = 24_000
    with server.client() as c:
        a = str(open_session(c, face="obama.jpg", mode="live")["session_id"])
        b = str(open_session(c, face="astronaut.png", mode="live", seed=7)["session_id"])
        assert feed_wav(c, a, speech_like(1.0, sr, seed=8), sr, final=True).status_code == 200
        wait_for(lambda: status(c, a)["status"] == "complete", timeout=60, what="session a to complete")
        sb = status(c, b)
        assert sb["status"] == "waiting" and sb["speech_frames"] == 0 and sb["total_frames_generated"] == 0
        assert status(c, a)["speech_frames"] == 25
        assert c.delete(f"{API}/session/{a}").status_code == 200
        assert not (server.hls_root / a).exists()
        listed = _listed(server, b)
        wait_for(lambda: _listed(server, b) > listed, timeout=30, what="b keeps streaming after a is deleted")
        assert status(c, b)["status"] == "waiting"
        assert c.delete(f"{API}/session/{b}").status_code == 200
