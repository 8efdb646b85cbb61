"""Faults and access: a dying encoder, refusing to start, disconnects mid-upload, API key, CORS, metrics."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from app.config import Settings
from app.main import StartupError, create_app
from tests.conftest import RunningServer
from tests.helpers import API, feed_wav, open_session, playlist_segments, speech_like, status, wait_for


def _listed(playlist: Path) -> int:
    seq, names, _ = playlist_segments(playlist.read_text())
    return seq + len(names)


def test_dead_encoder_moves_only_its_session_to_error(server: RunningServer) -> None:
    with server.client() as c:
        victim = str(open_session(c, face=None)["session_id"])
        other = str(open_session(c, face=None)["session_id"])
        manager = server.app.state.manager
        os.kill(manager.get(victim).encoder.pid, signal.SIGKILL)
        wait_for(lambda: status(c, victim)["status"] == "error", 20, what="the victim to fail")
        st = status(c, victim)
        assert "ffmpeg" in st["last_error"] or "encoder" in st["last_error"]
        r = feed_wav(c, victim, speech_like(0.3, 16_000), 16_000)
        assert r.status_code == 409 and r.json()["error"]["code"] == "session_closed"
        path = server.hls_root / other / "index.m3u8"
        wait_for(path.exists, 20, what="the other playlist")
        before = _listed(path)
        wait_for(lambda: _listed(path) > before, 20, what="the other session to keep streaming")
        assert status(c, other)["status"] == "waiting"
        assert c.get("/healthz").status_code == 200
        for sid in (victim, other):
            assert c.delete(f"{API}/session/{sid}").status_code == 200


def test_refuses_to_start_on_unwritable_hls_root(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StartupError, match="not writable"):
        create_app(Settings(hls_root=blocker / "hls"))


def test_refuses_to_start_without_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "no-such-ffmpeg"))
    with pytest.raises(StartupError, match="ffmpeg"):
        create_app(Settings(hls_root=tmp_path / "hls"))


def test_disconnect_mid_upload_applies_nothing(server: RunningServer) -> None:
    with server.client() as c:
        sid = str(open_session(c, face=None, mode="event")["session_id"])
        url = urlparse(server.url)
        body = b"\x00\x01" * 24_000  # 1 s of s16le at 24 kHz
        with socket.create_connection((url.hostname, url.port)) as s:
            s.sendall(
                f"POST {API}/feed/{sid}?sample_rate=24000 HTTP/1.1\r\nHost: x\r\n"
                f"Content-Length: {len(body)}\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
                + body[: len(body) // 2]
            )
        # the server notices the disconnect; the half-sent chunk must never be applied
        assert feed_wav(c, sid, speech_like(0.2, 16_000), 16_000).status_code == 200
        assert status(c, sid)["audio_seconds_received"] == pytest.approx(0.2)
        c.delete(f"{API}/session/{sid}")


def test_api_key_guards_control_endpoints(server_factory: Callable[..., RunningServer], tmp_path: Path) -> None:
    srv = server_factory(tmp_path, api_key="s3cret-key")
    with srv.client() as c:
        r = c.post(f"{API}/init")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert c.post(f"{API}/init", headers={"Authorization": "Bearer wrong"}).status_code == 401
        auth = {"Authorization": "Bearer s3cret-key"}
        r = c.post(f"{API}/init", headers=auth, data={"mode": "event"})
        assert r.status_code == 201
        sid = r.json()["session_id"]
        assert c.get(f"{API}/status/{sid}").status_code == 401
        assert c.get(f"{API}/status/{sid}", headers=auth).status_code == 200
        assert c.get("/healthz").status_code == 200  # health stays open for load balancers
        assert c.delete(f"{API}/session/{sid}", headers=auth).status_code == 200


def test_cors_allows_configured_origins_only(server_factory: Callable[..., RunningServer], tmp_path: Path) -> None:
    srv = server_factory(tmp_path, cors_origins=["http://app.example"])
    with srv.client() as c:
        pre = {"Access-Control-Request-Method": "POST"}
        ok = c.options(f"{API}/init", headers={"Origin": "http://app.example", **pre})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://app.example"
        bad = c.options(f"{API}/init", headers={"Origin": "http://evil.example", **pre})
        assert "access-control-allow-origin" not in bad.headers


def test_metrics_expose_sessions_frames_and_errors(server: RunningServer) -> None:
    with server.client() as c:
        sid = str(open_session(c, face=None, mode="event")["session_id"])
        assert feed_wav(c, sid, speech_like(0.4, 16_000), 16_000, final=True).status_code == 200
        wait_for(lambda: status(c, sid)["status"] == "complete", 60, what="complete")
        c.get(f"{API}/status/not-a-session-id")
        text = httpx.get(f"{server.url}/metrics").text
        expected = (
            "talkstream_sessions",
            "talkstream_frames_total",
            "talkstream_render_batch_frames_bucket",
            "talkstream_feed_to_playlist_seconds_bucket",
            'talkstream_errors_total{code="session_not_found"}',
        )
        for name in expected:
            assert name in text, name
        c.delete(f"{API}/session/{sid}")
