"""Streaming benchmark: event-mode speed, live latency, CPU per live session-second. Prints a Markdown table.

    python bench/streaming.py [--event-seconds 30] [--live-seconds 20] [--sessions 1,4]

(a) event mode: seconds of video per wall second for N s of speech (fed as fast as possible, 1 s chunks).
(b) live: latency from a chunk's arrival to its first frame being listed in the playlist (measured by the server),
    200 ms chunks fed at real-time pace, chunk_duration 0.2.
(c) CPU seconds (server + its ffmpeg processes) per live session-second, with speech fed to every session.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

from bench.common import API, FACES, Server, feed_raw, running_server, speech, table

SR = 24_000


def _init(server: Server, **form: str) -> str:
    with server.client() as c:
        files = {"image": ("obama.jpg", (FACES / "obama.jpg").read_bytes(), "image/jpeg")}
        r = c.post(f"{API}/init", data=form, files=files)
        r.raise_for_status()
        return str(r.json()["session_id"])


def _status(server: Server, sid: str) -> dict[str, object]:
    with server.client() as c:
        body: dict[str, object] = c.get(f"{API}/status/{sid}").json()
        return body


def bench_event(server: Server, seconds: float) -> dict[str, float]:
    audio = speech(seconds, SR)
    sid = _init(server, mode="event")
    start = time.monotonic()
    with server.client() as c:
        for pos in range(0, len(audio), SR):
            feed_raw(c, sid, audio[pos : pos + SR], SR, final=pos + SR >= len(audio))
        fed = time.monotonic() - start
        while _status(server, sid)["status"] not in ("complete", "error"):
            time.sleep(0.02)
        wall = time.monotonic() - start
        c.delete(f"{API}/session/{sid}")
    return {"seconds": seconds, "wall": wall, "feed_wall": fed, "x_realtime": seconds / wall}


def _feed_realtime(server: Server, sid: str, seconds: float, chunk: float, seed: int) -> None:
    audio = speech(seconds, SR, seed=seed)
    step = round(chunk * SR)
    start = time.monotonic()
    with server.client() as c:
        for i, pos in enumerate(range(0, len(audio), step)):
            feed_raw(c, sid, audio[pos : pos + step], SR)
            delay = start + (i + 1) * chunk - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def bench_live(server: Server, seconds: float, sessions: int) -> dict[str, float]:
    ids = [_init(server, mode="live", chunk_duration="0.2", seed=str(i)) for i in range(sessions)]
    time.sleep(1.0)  # let the streams settle into their clock
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    threads = [
        threading.Thread(target=_feed_realtime, args=(server, sid, seconds, 0.2, i)) for i, sid in enumerate(ids)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu, wall = server.cpu_seconds() - cpu0, time.monotonic() - t0
    time.sleep(1.0)  # the last chunks reach the playlist
    stats = [_status(server, sid) for sid in ids]
    p50 = max(float(s["latency"]["p50"]) for s in stats)  # type: ignore[index]
    p95 = max(float(s["latency"]["p95"]) for s in stats)  # type: ignore[index]
    rss = server.rss_mb()
    with server.client() as c:
        for sid in ids:
            c.delete(f"{API}/session/{sid}")
    return {
        "sessions": sessions,
        "latency_p50": p50,
        "latency_p95": p95,
        "cpu_per_session_second": cpu / (wall * sessions),
        "rss_mb": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--event-seconds", type=float, default=30.0)
    parser.add_argument("--live-seconds", type=float, default=20.0)
    parser.add_argument("--sessions", default="1,4", help="comma-separated live session counts")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "out" / "streaming.json")
    args = parser.parse_args()
    results: dict[str, object] = {}
    with running_server() as server:
        results["event"] = ev = bench_event(server, args.event_seconds)
        live = [bench_live(server, args.live_seconds, int(n)) for n in args.sessions.split(",")]
        results["live"] = live
    rows = [
        (f"event: {ev['seconds']:.0f} s of speech → ENDLIST", f"{ev['wall']:.2f} s wall", ""),
        ("event: video seconds per wall second", f"{ev['x_realtime']:.1f}x", "≥ 5x"),
    ]
    for r in live:
        n = int(r["sessions"])
        rows += [
            (f"live x{n}: chunk → first frame listed, p50", f"{r['latency_p50']:.3f} s", ""),
            (f"live x{n}: chunk → first frame listed, p95", f"{r['latency_p95']:.3f} s", "≤ 1.0 s"),
            (f"live x{n}: CPU s per session-second", f"{r['cpu_per_session_second']:.3f}", ""),
            (f"live x{n}: server + ffmpeg RSS", f"{r['rss_mb']:.0f} MB", ""),
        ]
    print(table("talkstream streaming benchmark", rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
