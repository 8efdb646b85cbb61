"""Glass-to-glass latency benchmark: the server's wall clock, burned into each frame, read back in the browser.

    python -m bench.glass [--seconds 30] [--skip 5] [--hls-config '{"lowLatencyMode": true}']

Starts the server with TALKSTREAM_STAMP_CLOCK=1 (the encoder's writer thread burns time.time() in ms into every
frame just before it goes to ffmpeg: app/hls/stamp.py), opens a live session (built-in face, chunk_duration 0.2)
and feeds it speech in 200 ms chunks at real-time pace for the whole run, so the stream is speaking. Headless
Chromium (Debian's, driven by playwright-core from node: bench/glass_page/run.mjs) plays the session's HLS with
our JS client's attachPlayer and its live hls.js settings, and on every presented frame reads the stamp back and
records Date.now() - stamp. Server and browser share the machine, hence the clock. The first ``--skip`` seconds
after the first frame (player start-up) are left out. ``--hls-config`` overrides some of the client's hls.js
settings, to try alternatives; the figures that count are taken without it. Prints a Markdown table; writes
bench/out/glass.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from app.hls import stamp
from bench.common import API, ROOT, Server, feed_raw, running_server, speech, table

SR = 24_000
CHUNK = 0.2
CLIENTS_JS = ROOT / "clients" / "js"
RUNNER = Path(__file__).parent / "glass_page" / "run.mjs"
TARGET_P50 = 1.5
LAYOUT = {  # the stamp layout of app/hls/stamp.py, for the page's reader
    "cell": stamp.CELL,
    "cells": stamp.CELLS,
    "start": list(stamp.START),
    "end": list(stamp.END),
    "dataBits": stamp.DATA_BITS,
    "checkBits": stamp.CHECK_BITS,
    "dark": stamp.DARK,
    "light": stamp.LIGHT,
}


class _Feeder(threading.Thread):
    """Feeds speech to a live session in ``CHUNK`` s pieces at real-time pace until stopped."""

    def __init__(self, server: Server, sid: str, max_seconds: float) -> None:
        super().__init__(name="glass-feeder", daemon=True)
        self.server, self.sid = server, sid
        self.audio = speech(max_seconds, SR)
        self.stop = threading.Event()
        self.fed_seconds = 0.0
        self.error: str | None = None

    def run(self) -> None:
        step = round(CHUNK * SR)
        start = time.monotonic()
        with self.server.client() as c:
            for i, pos in enumerate(range(0, len(self.audio), step)):
                if self.stop.is_set():
                    return
                try:
                    feed_raw(c, self.sid, self.audio[pos : pos + step], SR)
                except httpx.HTTPError as exc:
                    self.error = str(exc)
                    return
                self.fed_seconds += step / SR
                self.stop.wait(max(0.0, start + (i + 1) * CHUNK - time.monotonic()))


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise SystemExit(f"{tool} is needed (see ./scripts/test.sh)")
    return path


def _browser(server: Server, hls_url: str, seconds: float, hls_config: dict[str, Any]) -> dict[str, Any]:
    """Play the stream in headless Chromium for ``seconds`` after its first stamped frame; the page's report."""
    node, chromium = _require("node"), _require("chromium")
    if not (CLIENTS_JS / "node_modules" / "playwright-core").is_dir():
        raise SystemExit("playwright-core is not installed: run `npm ci` in clients/js")
    with tempfile.TemporaryDirectory(prefix="talkstream-glass-") as profile:
        options = {
            "baseUrl": server.url,
            "hlsUrl": server.url + hls_url,
            "chromium": chromium,
            "userDataDir": profile,
            "clientsDir": str(CLIENTS_JS),
            "seconds": seconds,
            "layout": LAYOUT,
            "hlsConfig": hls_config,
            "timeoutMs": 60_000,
        }
        run = subprocess.run(
            [node, str(RUNNER), json.dumps(options)],
            cwd=CLIENTS_JS, capture_output=True, text=True, timeout=seconds + 180, check=False,
        )  # fmt: skip
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the browser printed nothing (exit {run.returncode}):\n{run.stdout}\n{run.stderr}")
    report: dict[str, Any] = json.loads(lines[-1])
    if not report["ok"]:
        raise RuntimeError(f"the browser run failed: {report}")
    return report


def measure(seconds: float, hls_config: dict[str, Any]) -> dict[str, Any]:
    """One run: server, session, speech, browser; the raw report with the server's view added."""
    with running_server(TALKSTREAM_STAMP_CLOCK="1") as server, server.client() as c:
        r = c.post(f"{API}/init", data={"mode": "live", "chunk_duration": str(CHUNK)})
        r.raise_for_status()
        sid, hls_url = str(r.json()["session_id"]), str(r.json()["hls_url"])
        feeder = _Feeder(server, sid, max_seconds=seconds + 180)
        feeder.start()
        try:
            page = _browser(server, hls_url, seconds, hls_config)
        finally:
            feeder.stop.set()
            feeder.join()
        status = c.get(f"{API}/status/{sid}").json()
        c.delete(f"{API}/session/{sid}")
    return {"page": page, "status": status, "fed_seconds": feeder.fed_seconds, "feed_error": feeder.error}


def summarise(run: dict[str, Any], skip: float) -> dict[str, Any]:
    """Glass-to-glass statistics of the frames presented after the start-up ``skip``."""
    page = run["page"]
    t0 = float(page["firstFrameAt"]) + skip * 1000
    kept = [s for s in page["samples"] if s[0] >= t0]
    if not kept:
        raise RuntimeError("no stamped frame was presented after the start-up period")
    g2g = np.array([s[1] for s in kept], dtype=np.float64) / 1000
    displayed = np.array([s[2] for s in kept], dtype=np.float64) / 1000
    behind_edge = np.array([s[3] for s in kept if s[3] is not None], dtype=np.float64)
    rate = np.array([s[4] for s in kept], dtype=np.float64)
    latency = run["status"].get("latency", {})
    return {
        "glass_p50": float(np.percentile(g2g, 50)),
        "glass_p95": float(np.percentile(g2g, 95)),
        "glass_min": float(g2g.min()),
        "glass_max": float(g2g.max()),
        "glass_display_p50": float(np.percentile(displayed, 50)),
        "samples": len(kept),
        "measured_seconds": (kept[-1][0] - t0) / 1000,
        "unreadable_frames": page["unreadable"],
        "stalls": sum(w >= t0 for w in page["waiting"]),
        "stalls_with_startup": len(page["waiting"]),
        "hls_behind_edge_p50": float(np.median(behind_edge)) if behind_edge.size else None,
        "playback_rate_max": float(rate.max()),
        "frames_above_1x": int((rate > 1).sum()),
        "startup_glass": page["samples"][0][1] / 1000,
        "server_chunk_to_listed_p50": latency.get("p50"),
        "server_chunk_to_listed_p95": latency.get("p95"),
        "dropped_frames": page["droppedFrames"],
        "hls_version": page["hlsVersion"],
        "hls_settings": page["settings"],
        "hls_target_latency": page["targetLatency"],
        "target_duration": page["targetDuration"],
        "player_errors": page["errors"] + page["pageErrors"],
        "fed_seconds": run["fed_seconds"],
        "feed_error": run["feed_error"],
    }


def _settings_text(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k} {json.dumps(v)}" for k, v in settings.items())


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} s"


def _rows(s: dict[str, Any], hls_config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The table of a summary (see :func:`summarise`)."""
    settings_from = f"attachPlayer + {json.dumps(hls_config)}" if hls_config else "attachPlayer"
    errors = [*s["player_errors"], *([s["feed_error"]] if s["feed_error"] else [])]
    measured = f"{s['samples']} in {s['measured_seconds']:.1f} s ({s['unreadable_frames']} unreadable)"
    faster = f"{s['playback_rate_max']}x / {s['frames_above_1x']}"
    targets = f"{s['hls_target_latency']} s / {s['target_duration']} s"
    return [
        ("glass-to-glass p50", _seconds(s["glass_p50"]), f"≤ {TARGET_P50} s"),
        ("glass-to-glass p95", _seconds(s["glass_p95"]), ""),
        ("glass-to-glass min / max", f"{_seconds(s['glass_min'])} / {_seconds(s['glass_max'])}", ""),
        ("glass-to-glass p50 at the frames' expected display time", _seconds(s["glass_display_p50"]), ""),
        ("stamped frames measured", measured, ""),
        ("stalls (waiting events) after start-up / in all", f"{s['stalls']} / {s['stalls_with_startup']}", "0"),
        ("glass-to-glass of the first frame shown", _seconds(s["startup_glass"]), ""),
        ("hls.js: playhead behind its live-edge estimate, p50", _seconds(s["hls_behind_edge_p50"]), ""),
        ("playback rate: max / frames shown faster than 1x", faster, ""),
        ("server: chunk arrival → first frame listed, p50", _seconds(s["server_chunk_to_listed_p50"]), ""),
        (f"hls.js {s['hls_version']} settings ({settings_from})", _settings_text(s["hls_settings"]), ""),
        ("hls.js target latency / playlist target duration", targets, ""),
        *([("errors", "; ".join(errors), "none")] if errors else []),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="playback after the first frame")
    parser.add_argument("--skip", type=float, default=5.0, help="start-up seconds left out of the statistics")
    parser.add_argument(
        "--hls-config", type=json.loads, default={}, help="JSON object overriding attachPlayer's hls.js settings"
    )
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "out" / "glass.json")
    args = parser.parse_args()
    run = measure(args.seconds, args.hls_config)
    s = summarise(run, args.skip)

    print(table("talkstream glass-to-glass latency (headless Chromium, hls.js)", _rows(s, args.hls_config)))
    page = run["page"]
    t0 = float(page["firstFrameAt"])
    series = [[round((x[0] - t0) / 1000, 3), *x[1:]] for x in page["samples"]]  # s, g2g ms, display ms, edge, rate
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "summary": s, "series": series}))


if __name__ == "__main__":
    main()
