"""The demo page in real headless Chromium against a real server: start a session with a face, stream a WAV through
the JS client in the page, and check that the avatar plays with picture and sound (clients/js/test-browser/demo.mjs
drives the browser and reports what it measured; the assertions are here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.test_js_client import JS_CLIENT, require_tool
from tests.conftest import RunningServer
from tests.helpers import API, FACES, speech_like, wav_bytes

DEMO_SCRIPT = JS_CLIENT / "test-browser" / "demo.mjs"
# Set TALKSTREAM_SCREENSHOT_DIR to keep the screenshot (docs/demo-screenshot.png was made that way).
SCREENSHOT_DIR = os.environ.get("TALKSTREAM_SCREENSHOT_DIR")


def _require_playwright() -> None:
    if not (JS_CLIENT / "node_modules" / "playwright-core").is_dir():
        reason = "playwright-core is not installed: run `npm ci` in clients/js"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def run_demo(server: RunningServer, tmp_path: Path, face: Path | None, mode: str) -> dict[str, Any]:
    """Drive the demo page with an 8 s speech-like WAV; the report of demo.mjs (fails the test if it failed)."""
    chromium = require_tool("chromium")
    node = require_tool("node")
    _require_playwright()
    wav = tmp_path / "speech.wav"
    wav.write_bytes(wav_bytes(speech_like(8.0, sr=24_000, seed=3), 24_000))
    options = {
        "baseUrl": server.url,
        "chromium": chromium,
        "userDataDir": str(tmp_path / "chromium-profile"),
        "face": str(face) if face else None,
        "wav": str(wav),
        "screenshot": str(tmp_path / "demo.png"),
        "mode": mode,
    }
    result = subprocess.run(
        [node, str(DEMO_SCRIPT), json.dumps(options)],
        cwd=JS_CLIENT, capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"the browser script printed nothing (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    report: dict[str, Any] = json.loads(lines[-1])
    print(json.dumps(report, indent=2))  # shown when the test fails (or with -s)
    assert result.returncode == 0 and report["ok"], f"browser check failed: {json.dumps(report, indent=2)}"
    return report


def assert_played_with_picture_and_sound(report: dict[str, Any]) -> None:
    assert report["endTime"] > report["startTime"] + 2.0
    assert report["usedHlsJs"] and not report["native"], "hls.js (not native HLS) must play in Chromium"
    assert report["fatalErrors"] == [], report["fatalErrors"]
    assert report["pageErrors"] == [], report["pageErrors"]
    assert report["errors"] == [], report["errors"]
    # a real picture: not blank, not a flat colour
    assert report["videoWidth"] > 0 and report["videoHeight"] > 0
    assert report["lumaVariance"] > 100, report
    assert 10 < report["lumaMean"] < 245, report
    # sound: hls.js found H.264 + AAC, and Chromium decoded audio
    assert report["codecs"]["video"].startswith("avc1"), report["codecs"]
    assert report["codecs"]["audio"].startswith("mp4a"), report["codecs"]
    assert report["audioDecodedBytes"] > 0
    # the page fed the file through the JS client and the server turned it into speech
    assert report["status"]["speech_frames"] >= 25
    assert report["status"]["audio_seconds_received"] > 1.0


def assert_closed(server: RunningServer, session_id: str) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get(f"{API}/status/{session_id}").status_code == 404


def test_demo_page_plays_live_avatar_with_audio(server: RunningServer, tmp_path: Path) -> None:
    face = FACES / "obama.jpg"
    report = run_demo(server, tmp_path, face, "live")

    assert report["face"] == {"choice": "upload", "name": face.name, "bytes": face.stat().st_size}
    assert_played_with_picture_and_sound(report)
    assert report["micChunks"] >= 3  # the (fake) microphone went through the AudioWorklet and the client
    assert_closed(server, report["sessionId"])  # "End session"

    screenshot = tmp_path / "demo.png"
    assert screenshot.stat().st_size > 10_000
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, Path(SCREENSHOT_DIR) / "demo-screenshot.png")


def test_demo_page_event_mode_with_default_face(server: RunningServer, tmp_path: Path) -> None:
    report = run_demo(server, tmp_path, None, "event")

    assert report["face"] == {"choice": "default", "name": None, "bytes": 0}
    assert_played_with_picture_and_sound(report)
    final = report["finalStatus"]
    assert final["status"] == "complete"
    assert final["audio_seconds_received"] == pytest.approx(8.0, abs=0.01)
    assert final["speech_frames"] == 200  # 8 s x 25 fps, the last chunk marked final by the page
    assert_closed(server, report["sessionId"])
