"""Soak: N live sessions for M minutes with speech fed in bursts (utterances and pauses). Prints a Markdown table.

    python bench/soak.py [--sessions 4] [--minutes 2]

Checks, per session: the segment timeline is contiguous (no missing media sequence), the listed durations add up
to the session's wall time within one frame (no stall), the A/V offset of the finished stream equals the AAC
priming (constant, no drift); for the server: memory growth, and no file descriptors, processes or files left
after every session is deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import threading
import time
from pathlib import Path

import imageio_ffmpeg

from bench.common import API, FACES, Server, feed_raw, running_server, speech, table

SR = 24_000
FPS = 25


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _children(server: Server) -> int:
    pids = []
    for task in Path(f"/proc/{server.proc.pid}/task").glob("*"):
        try:
            pids += (task / "children").read_text().split()
        except FileNotFoundError:
            continue
    return len(pids)


def _run_session(server: Server, index: int, minutes: float, out: dict[str, object]) -> None:
    rng = random.Random(index)
    with server.client() as c:
        face = ["obama.jpg", "astronaut.png", "biden.jpg"][index % 3]
        files = {"image": (face, (FACES / face).read_bytes(), "application/octet-stream")}
        r = c.post(f"{API}/init", data={"chunk_duration": "0.2", "seed": str(index)}, files=files)
        r.raise_for_status()
        sid = r.json()["session_id"]
        started = time.monotonic()
        end = started + minutes * 60
        fed = 0.0
        step = int(0.2 * SR)
        while time.monotonic() < end - 2:
            utterance = speech(rng.uniform(1.0, 4.0), SR, seed=rng.randrange(1000))
            t0 = time.monotonic()
            for i, pos in enumerate(range(0, len(utterance), step)):
                feed_raw(c, sid, utterance[pos : pos + step], SR)
                fed += len(utterance[pos : pos + step]) / SR
                delay = t0 + (i + 1) * 0.2 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            time.sleep(rng.uniform(0.5, 3.0))  # a pause: idle frames must fill it
        feed_raw(c, sid, speech(0.2, SR), SR, final=True)
        fed += 0.2
        while c.get(f"{API}/status/{sid}").json()["status"] not in ("complete", "error"):
            time.sleep(0.1)
        wall = time.monotonic() - started
        st = c.get(f"{API}/status/{sid}").json()
        playlist = (server.hls_root / sid / "index.m3u8").read_text()
        out[sid] = {"wall": wall, "fed": fed, "status": st, "playlist": playlist}
        out[sid]["av"] = _av_offset(server.hls_root / sid / "index.m3u8")  # type: ignore[index]


def _av_offset(playlist: Path) -> float:
    """Audio duration minus video duration of the listed stream (the AAC priming when nothing drifts)."""
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    frames = subprocess.run(
        [exe, "-v", "error", "-i", str(playlist), "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "gray",
         "-s", "8x8", "pipe:1"], capture_output=True, check=True).stdout  # fmt: skip
    samples = subprocess.run(
        [exe, "-v", "error", "-i", str(playlist), "-map", "0:a:0", "-f", "s16le", "-ac", "1", "-ar", "48000",
         "pipe:1"], capture_output=True, check=True).stdout  # fmt: skip
    return len(samples) / 2 / 48000 - len(frames) / 64 / FPS


def _timeline(playlist: str) -> tuple[bool, float, int]:
    seq, names, durations = 0, [], []
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            seq = int(line.split(":")[1])
        elif line.startswith("#EXTINF:"):
            durations.append(float(line[8:].split(",")[0]))
        elif line and not line.startswith("#"):
            names.append(int(line.split("_")[1].split(".")[0]))
    return names == list(range(seq, seq + len(names))), sum(durations), seq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "out" / "soak.json")
    args = parser.parse_args()
    results: dict[str, object] = {}
    # event playlists keep every segment, so the whole timeline can be checked afterwards
    with running_server(TALKSTREAM_PLAYLIST_TYPE="event", TALKSTREAM_MAX_SESSIONS=str(args.sessions + 2)) as server:
        fds0, children0, rss0 = _fds(server.proc.pid), _children(server), server.rss_mb()
        threads = [
            threading.Thread(target=_run_session, args=(server, i, args.minutes, results))
            for i in range(args.sessions)
        ]
        peak = rss0
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            peak = max(peak, server.rss_mb())
            time.sleep(1.0)
        rss_end = server.rss_mb()
        with server.client() as c:
            for sid in results:
                c.delete(f"{API}/session/{sid}")
        time.sleep(1.0)
        fds1, children1 = _fds(server.proc.pid), _children(server)
        files_left = list(server.hls_root.iterdir())
    rows = []
    for sid, r in results.items():
        assert isinstance(r, dict)
        contiguous, listed, _ = _timeline(r["playlist"])
        st = r["status"]
        frames = st["speech_frames"] + st["idle_frames"]
        rows += [
            (f"{sid[:8]}: wall / listed / frames", f"{r['wall']:.1f} s / {listed:.2f} s / {frames / FPS:.2f} s", ""),
            (
                f"{sid[:8]}: contiguous, |listed - frames|",
                f"{contiguous}, {abs(listed - frames / FPS):.3f} s",
                "True, ≤ 0.04 s",
            ),
            (f"{sid[:8]}: speech frames vs fed", f"{st['speech_frames']} vs {round(r['fed'] * FPS)}", "equal"),
            (f"{sid[:8]}: A/V offset (audio - video)", f"{r['av'] * 1000:.1f} ms", "≈ 21 ms AAC priming, < 40"),
            (f"{sid[:8]}: latency p50 / p95", f"{st['latency']['p50']} / {st['latency']['p95']} s", ""),
        ]
    rows += [
        ("server RSS start / peak / end", f"{rss0:.0f} / {peak:.0f} / {rss_end:.0f} MB", "bounded"),
        ("fds before / after delete", f"{fds0} / {fds1}", "equal"),
        ("child processes before / after", f"{children0} / {children1}", "equal"),
        ("session files left", str(len(files_left)), "0"),
    ]
    print(table(f"soak: {args.sessions} live sessions x {args.minutes} min", rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({k: {**v, "playlist": None} for k, v in results.items()}, indent=2, default=str))  # type: ignore[dict-item]


if __name__ == "__main__":
    main()
