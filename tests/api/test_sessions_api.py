"""HTTP semantics of the session API: status codes, JSON errors, aliases, raw feeds, limits, cleanup."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import RunningServer
from tests.helpers import API, FACES, feed_wav, open_session, speech_like, status, wait_for, wav_bytes


def _error(r: object, status_code: int, code: str | None = None) -> dict[str, str]:
    import httpx

    assert isinstance(r, httpx.Response)
    assert r.status_code == status_code, r.text
    body = r.json()
    assert body["status"] == "error" and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body
    return dict(body["error"])


def test_init_reports_effective_params_and_urls(server: RunningServer) -> None:
    with server.client() as c:
        body = open_session(c, face=None, mode="event", seed=7, pose_style="[2, -3, 1]", gaze_style="[0.1, 0]",
                            sample_rate=16000, chunk_duration=0.5)  # fmt: skip
        sid = str(body["session_id"])
        assert body["status"] == "success" and body["mode"] == "event"
        assert body["hls_url"] == f"/hls/{sid}/index.m3u8"
        assert body["status_url"] == f"{API}/status/{sid}"
        params = body["params"]
        assert isinstance(params, dict)
        assert params["seed"] == 7 and params["pose_style"] == [2.0, -3.0, 1.0] and params["gaze_style"] == [0.1, 0]
        assert params["audio_sample_rate"] == 16000 and params["nfe"] == 10 and params["cfg_scale"] == 2.0
        assert len(sid) >= 22  # 128 random bits, URL-safe
        st = status(c, sid)
        assert st["status"] == "waiting" and st["model"]["unused_params"] == ["nfe", "cfg_scale"]
        assert st["face"]["detector"]
        assert c.delete(f"{API}/session/{sid}").json()["status"] == "success"
        # nfe / cfg_scale reach the model's options (for a model that samples)
        sid = str(open_session(c, face=None, nfe=7, cfg_scale=3.5)["session_id"])
        options = server.app.state.manager.get(sid)._speech._motion.options
        assert (options.nfe, options.cfg_scale, options.seed) == (7, 3.5, 42)
        c.delete(f"{API}/session/{sid}")


def test_client_chosen_session_id_and_conflicts(server: RunningServer) -> None:
    with server.client() as c:
        body = open_session(c, face=None, session_id="my-session-0001", mode="event")
        assert body["session_id"] == "my-session-0001"
        r = c.post(f"{API}/init", data={"session_id": "my-session-0001"})
        _error(r, 409, "session_exists")
        _error(c.post(f"{API}/init", data={"session_id": "../etc/passwd"}), 422, "invalid_parameter")
        c.delete(f"{API}/session/my-session-0001")


@pytest.mark.parametrize(
    ("field", "value"),
    [("nfe", "0"), ("nfe", "51"), ("chunk_duration", "0.01"), ("chunk_duration", "11"), ("fps", "7"),
     ("fps", "abc"), ("mode", "fast"), ("pose_style", "[1, 2]"), ("pose_style", "not json"),
     ("gaze_style", '["a", "b"]'), ("audio_sample_rate", "0"), ("sample_rate", "10000000"), ("seed", "-1"),
     ("liveliness", "3")],
)  # fmt: skip
def test_bad_init_parameters_are_422(server: RunningServer, field: str, value: str) -> None:
    with server.client() as c:
        err = _error(c.post(f"{API}/init", data={field: value}), 422, "invalid_parameter")
        assert field in err["message"] or "fps" in err["message"]


def test_bad_images(server: RunningServer, tmp_path: Path) -> None:
    with server.client() as c:
        r = c.post(f"{API}/init", files={"image": ("x.jpg", b"definitely not an image", "image/jpeg")})
        _error(r, 400, "invalid_image")
        truncated = (FACES / "obama.jpg").read_bytes()[:3000]
        _error(c.post(f"{API}/init", files={"image": ("t.jpg", truncated, "image/jpeg")}), 400, "invalid_image")
        blank = tmp_path / "blank.png"
        from PIL import Image

        Image.new("RGB", (256, 256), (120, 160, 200)).save(blank)
        err = _error(
            c.post(f"{API}/init", files={"image": ("b.png", blank.read_bytes(), "image/png")}), 422, "no_face"
        )
        assert "face" in err["message"]
    assert len(list(server.hls_root.iterdir())) == len(list(server.hls_root.iterdir()))  # nothing half-created


def test_feed_errors(server: RunningServer) -> None:
    sr = 16_000
    with server.client() as c:
        _error(feed_wav(c, "unknown-session-id", speech_like(0.2, sr), sr), 404, "session_not_found")
        sid = str(open_session(c, face=None, mode="event")["session_id"])
        r = c.post(
            f"{API}/feed", data={"session_id": sid}, files={"audio_chunk": ("x.wav", b"garbage!", "audio/wav")}
        )
        _error(r, 400, "invalid_audio")
        _error(c.post(f"{API}/feed", data={"session_id": sid}), 422, "invalid_parameter")  # no audio, not final
        nan = np.full(1000, np.nan, np.float32).tobytes()
        _error(c.post(f"{API}/feed/{sid}", params={"format": "f32le", "sample_rate": sr}, content=nan), 400)
        _error(c.post(f"{API}/feed/{sid}", params={"sample_rate": 0}, content=b"\0\0" * 100), 422)
        _error(c.post(f"{API}/feed/{sid}", params={"channels": 32}, content=b"\0\0" * 100), 422)
        _error(c.post(f"{API}/feed/{sid}", params={"format": "s24le"}, content=b"\0\0" * 100), 422)
        _error(c.post(f"{API}/feed/{sid}", params={"channels": 2}, content=b"\0\0" * 101), 400, "invalid_audio")
        assert status(c, sid)["audio_seconds_received"] == 0  # nothing partial was applied
        assert feed_wav(c, sid, speech_like(0.4, sr), sr, final=True).status_code == 200
        _error(feed_wav(c, sid, speech_like(0.2, sr), sr), 409, "session_finished")
        assert c.delete(f"{API}/session/{sid}").status_code == 200
        _error(c.get(f"{API}/status/{sid}"), 404, "session_not_found")
        _error(feed_wav(c, sid, speech_like(0.2, sr), sr), 404)
        _error(c.delete(f"{API}/session/{sid}"), 404)
        _error(c.post(f"{API}/interrupt/{sid}"), 404)


def test_feed_aliases_formats_and_counts(server: RunningServer) -> None:
    with server.client() as c:
        sid = str(open_session(c, face=None, mode="event", audio_sample_rate=16000)["session_id"])
        stereo = wav_bytes(speech_like(0.5, 44_100), 44_100, channels=2)
        r = c.post(f"{API}/feed", data={"session_id": sid}, files={"audio_chunk": ("s.wav", stereo, "audio/wav")})
        assert r.status_code == 200 and abs(r.json()["accepted_seconds"] - 0.5) < 1e-3
        pcm = (speech_like(0.25, 16_000) * 32767).astype("<i2").tobytes()  # headerless: the session's rate
        r = c.post(f"{API}/feed", data={"session_id": sid},
                   files={"audio_chunk": ("c.pcm", pcm, "application/octet-stream")})  # fmt: skip
        assert r.status_code == 200 and abs(r.json()["accepted_seconds"] - 0.25) < 1e-3
        f32 = np.stack([speech_like(0.25, 48_000)] * 2, axis=1).astype("<f4").tobytes()
        r = c.post(f"{API}/feed/{sid}", params={"sample_rate": 48000, "format": "f32le", "channels": 2}, content=f32)
        assert r.status_code == 200 and abs(r.json()["accepted_seconds"] - 0.25) < 1e-3
        r = c.post(f"{API}/feed", data={"session_id": sid, "is_final": "true"})  # alias, no audio
        assert r.status_code == 200 and r.json()["is_final"] is True
        assert r.json()["frames_generated"] == 25  # round(1.0 s x 25)
        assert abs(r.json()["total_audio_seconds"] - 1.0) < 1e-3
        wait_for(lambda: status(c, sid)["status"] == "complete", timeout=60, what="complete")
        c.delete(f"{API}/session/{sid}")


def test_container_formats_decode(server: RunningServer, tmp_path: Path) -> None:
    import subprocess

    import imageio_ffmpeg

    src = tmp_path / "s.wav"
    src.write_bytes(wav_bytes(speech_like(1.0, 24_000), 24_000))
    with server.client() as c:
        sid = str(open_session(c, face=None, mode="event")["session_id"])
        for ext, codec in (("flac", "flac"), ("ogg", "libopus"), ("mp3", "libmp3lame"), ("webm", "libopus")):
            out = tmp_path / f"s.{ext}"
            cmd = [
                imageio_ffmpeg.get_ffmpeg_exe(),
                "-y",
                "-loglevel",
                "error",
                "-i",
                str(src),
                "-c:a",
                codec,
                str(out),
            ]
            if subprocess.run(cmd, capture_output=True).returncode != 0:
                continue  # this ffmpeg build lacks the encoder; decoding is what is tested
            r = c.post(f"{API}/feed", data={"session_id": sid},
                       files={"audio_chunk": (out.name, out.read_bytes(), "application/octet-stream")})  # fmt: skip
            assert r.status_code == 200, (ext, r.text)
            assert abs(r.json()["accepted_seconds"] - 1.0) < 0.08, ext
        c.delete(f"{API}/session/{sid}")


def test_hls_mount_refuses_traversal_and_odd_names(server: RunningServer) -> None:
    with server.client() as c:
        for path in ("/hls/../app/main.py", "/hls/%2e%2e/%2e%2e/etc/passwd", "/hls/x/secret.txt", "/hls/.hidden.m3u8",
                     "/hls/nope/index.m3u8"):  # fmt: skip
            r = c.get(path)
            assert r.status_code == 404, path
        assert c.get("/healthz").json()["status"] == "ok"


def test_openapi_lists_the_api(server: RunningServer) -> None:
    with server.client() as c:
        spec = c.get("/openapi.json").json()
        paths = spec["paths"]
        for p in ("/init", "/feed", "/feed/{session_id}", "/status/{session_id}", "/interrupt/{session_id}",
                  "/session/{session_id}"):  # fmt: skip
            assert f"{API}{p}" in paths
        assert "429" in paths[f"{API}/feed"]["post"]["responses"]
        assert c.get("/docs").status_code == 200


def test_queue_bound_answers_429_with_retry_after(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    srv = server_factory(tmp_path, max_queued_seconds=2.0)
    with srv.client() as c:
        sid = str(open_session(c, face=None)["session_id"])
        assert feed_wav(c, sid, speech_like(3.0, 16_000), 16_000).status_code == 200
        r = feed_wav(c, sid, speech_like(0.5, 16_000), 16_000)
        err = _error(r, 429, "queue_full")
        assert int(r.headers["retry-after"]) >= 1 and "queued" in err["message"]
        assert status(c, sid)["audio_seconds_received"] == 3.0  # the refused chunk was not applied


def test_session_limit_and_cleanup(server_factory: Callable[..., RunningServer], tmp_path: Path) -> None:
    srv = server_factory(tmp_path, max_sessions=1, inactivity_timeout=1.0, finished_linger=0.5, sweep_interval=0.1)
    with srv.client() as c:
        sid = str(open_session(c, face=None)["session_id"])
        r = c.post(f"{API}/init")
        _error(r, 503, "session_limit")
        # no activity: the sweep removes the session and its files
        wait_for(lambda: c.get(f"{API}/status/{sid}").status_code == 404, timeout=20, what="inactivity sweep")
        gone = tmp_path / sid  # the sweep forgets the session first, then removes its files in a worker thread
        wait_for(lambda: not gone.exists(), timeout=10, what="the swept session's files to be removed")
        # a finished session lingers briefly, then goes
        sid = str(open_session(c, face=None, mode="event")["session_id"])
        assert feed_wav(c, sid, speech_like(0.3, 16_000), 16_000, final=True).status_code == 200
        wait_for(lambda: c.get(f"{API}/status/{sid}").status_code == 404, timeout=20, what="finished linger")
        finished = tmp_path / sid
        wait_for(lambda: not finished.exists(), timeout=10, what="the finished session's files to be removed")


def test_oversized_upload_is_413(server_factory: Callable[..., RunningServer], tmp_path: Path) -> None:
    srv = server_factory(tmp_path, max_upload_bytes=100_000)
    with srv.client() as c:
        sid = str(open_session(c, face=None, mode="event")["session_id"])
        big = wav_bytes(speech_like(5.0, 48_000), 48_000)  # ~480 kB
        _error(feed_wav(c, sid, speech_like(5.0, 48_000), 48_000), 413, "too_large")
        _error(c.post(f"{API}/feed/{sid}", content=big), 413, "too_large")
        assert status(c, sid)["audio_seconds_received"] == 0
        assert json.loads(c.get("/healthz").text)["sessions"] == 1
