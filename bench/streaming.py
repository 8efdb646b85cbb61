"""Streaming benchmark: start-up, event speed, live sessions (latency, stalls, CPU, memory), the floor, batching.

    python -m bench.streaming [--event-seconds 60] [--live-seconds 20] [--sessions 1,4,8,12] [--no-floor]

Prints Markdown tables and writes ``bench/out/streaming.json``. Everything runs against a real server (a subprocess,
real HTTP, real ffmpeg) except the floor and batching figures, which call the model and the encoder in this process.

(a) start-up: process start → /healthz answers; init → first segment listed (median and worst of 5 inits).
(b) event mode: N s of speech fed as fast as possible in 1 s chunks → ENDLIST; video seconds per wall second.
(c) live, for each session count: every session is fed 200 ms chunks of speech at real-time pace for D s.
    Latency: a chunk's arrival → its first frame listed in the playlist (the server measures it; the worst
    session's p50 / p95). Stall: how far any session's stream fell behind the wall clock at any time (sampled from
    /status every second; one frame slot is 0.04 s). Contiguous: every listed segment follows the previous one.
    CPU (server + its ffmpeg processes) per session-second; memory (RSS, and PSS, which counts the pages every
    ffmpeg shares once; PSS per session beyond the first).
(d) the floor, measured in the same run: the warp alone (the model's batched render of the same kind of frames)
    and ffmpeg alone (those frames through the same encoder, paced at 25 fps), as CPU per session-second; the
    ratio of talkstream's CPU per live session-second to it.
(e) cross-session batching: render throughput with one call per session-frame vs one call for all sessions.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.common import API, FACES, LightClient, Server, running_server, speech, table

SR = 24_000
FPS = 25
_FACE_FILES = ("obama.jpg", "biden.jpg", "astronaut.png")


def _init(server: Server, face: str = "obama.jpg", **form: str) -> dict[str, Any]:
    with server.client() as c:
        files = {"image": (face, (FACES / face).read_bytes(), "application/octet-stream")}
        r = c.post(f"{API}/init", data=form, files=files)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body


def _delete(server: Server, *sids: str) -> None:
    with server.client() as c:
        for sid in sids:
            c.delete(f"{API}/session/{sid}")


# -- (a) start-up --------------------------------------------------------------------------------------------------
def bench_startup(server: Server, runs: int = 5) -> dict[str, float]:
    """Init → the first segment listed in the playlist (polled over HTTP every 5 ms)."""
    times = []
    client = LightClient(server.url)
    for i in range(runs):
        start = time.monotonic()
        body = _init(server, _FACE_FILES[i % 3], mode="live")
        while b"#EXTINF" not in client.request("GET", body["hls_url"])[1]:
            time.sleep(0.005)
        times.append(time.monotonic() - start)
        _delete(server, body["session_id"])
    client.close()
    return {"ready_seconds": server.ready_seconds, "first_segment_median": statistics.median(times),
            "first_segment_max": max(times)}  # fmt: skip


# -- (b) event mode ------------------------------------------------------------------------------------------------
def bench_event(server: Server, seconds: float) -> dict[str, float]:
    audio = speech(seconds, SR)
    sid = str(_init(server, mode="event")["session_id"])
    client = LightClient(server.url)
    start = time.monotonic()
    for pos in range(0, len(audio), SR):
        query = f"sample_rate={SR}&format=f32le&is_final={str(pos + SR >= len(audio)).lower()}"
        body = audio[pos : pos + SR].astype("<f4").tobytes()
        while (answer := client.request("POST", f"{API}/feed/{sid}?{query}", body))[0] == 429:
            time.sleep(0.05)  # more than TALKSTREAM_MAX_QUEUED_SECONDS ahead: wait as a client would
        if answer[0] != 200:
            raise RuntimeError(f"feed answered {answer[0]}: {answer[1][:200]!r}")
    fed = time.monotonic() - start
    while client.status(sid)["status"] not in ("complete", "error"):
        time.sleep(0.01)
    wall = time.monotonic() - start
    client.close()
    _delete(server, sid)
    return {"seconds": seconds, "wall": wall, "feed_wall": fed, "x_realtime": seconds / wall}


# -- (c) live sessions ---------------------------------------------------------------------------------------------
def _feed_realtime(server: Server, sid: str, audio: npt.NDArray[np.float32], chunk: float) -> None:
    step = round(chunk * SR)
    client = LightClient(server.url)
    start = time.monotonic()
    for i, pos in enumerate(range(0, len(audio), step)):
        client.feed_raw(sid, audio[pos : pos + step], SR)
        delay = start + (i + 1) * chunk - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    client.close()


def _lag(st: dict[str, Any]) -> float:
    """Seconds of wall clock not (yet) covered by the session's stream, up to a constant (the head start)."""
    return float(st["uptime_seconds"]) - int(st["frames_written"]) / FPS


def _contiguous(server: Server, sid: str) -> bool:
    text = (server.hls_root / sid / "index.m3u8").read_text()
    seq = int(text.split("#EXT-X-MEDIA-SEQUENCE:")[1].split()[0]) if "MEDIA-SEQUENCE" in text else 0
    names = [line for line in text.splitlines() if line.endswith(".m4s")]
    numbers = [int(n.rsplit("_", 1)[1].split(".")[0]) for n in names]
    return numbers == list(range(seq, seq + len(names))) and "DISCONTINUITY" not in text


def bench_live(server: Server, seconds: float, sessions: int) -> dict[str, float]:
    audio = [speech(seconds, SR, seed=i) for i in range(sessions)]  # synthesised first: not while measuring
    ids = [str(_init(server, mode="live", chunk_duration="0.2", seed=str(i))["session_id"]) for i in range(sessions)]
    time.sleep(1.0)  # let the streams settle into their clock
    poller = LightClient(server.url)
    first = {sid: _lag(poller.status(sid)) for sid in ids}
    worst = {sid: 0.0 for sid in ids}
    cpu0, own0, client0, t0 = server.cpu_seconds(), server.own_cpu_seconds(), time.process_time(), time.monotonic()
    feeds = zip(ids, audio, strict=True)
    threads = [threading.Thread(target=_feed_realtime, args=(server, sid, a, 0.2)) for sid, a in feeds]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(1.0)
        for sid in ids:
            worst[sid] = max(worst[sid], _lag(poller.status(sid)) - first[sid])
    cpu, wall = server.cpu_seconds() - cpu0, time.monotonic() - t0
    own, client = server.own_cpu_seconds() - own0, time.process_time() - client0
    rss, pss = server.rss_mb(), server.pss_mb()
    time.sleep(1.0)  # the last chunks reach the playlist
    stats = [poller.status(sid) for sid in ids]
    poller.close()
    contiguous = all(_contiguous(server, sid) for sid in ids)
    _delete(server, *ids)
    return {
        "sessions": sessions,
        "latency_p50": max(float(s["latency"]["p50"]) for s in stats),
        "latency_p95": max(float(s["latency"]["p95"]) for s in stats),
        "max_lag": max(worst.values()),
        "contiguous": contiguous,
        "errors": sum(s["status"] == "error" for s in stats),
        "cpu_per_session_second": cpu / (wall * sessions),
        "cores_server": own / wall,  # the Python process alone
        "cores_ffmpeg": (cpu - own) / wall,
        "cores_bench_client": client / wall,  # this process: feeding and polling, on the same two cores
        "rss_mb": rss,
        "pss_mb": pss,
    }


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def bench_floor(sessions: int = 12, frames: int = 250) -> dict[str, float]:
    """CPU per session-second of the warp alone and of ffmpeg alone, and the render batching gain."""
    import cv2
    import soxr
    import torch

    from app.hls.encoder import Encoder, EncoderConfig
    from app.inference.builtin import BuiltinModel
    from app.inference.model import MotionOptions, PreparedFace

    torch.set_num_threads(1)  # the server's render threads are spread over the cores by its compose pool
    model = BuiltinModel()
    faces: list[PreparedFace] = []
    rows = []
    audio = soxr.resample(speech(frames / FPS, SR, seed=7), SR, 16_000).astype(np.float32)
    for i in range(sessions):
        image = np.asarray(cv2.cvtColor(cv2.imread(str(FACES / _FACE_FILES[i % 3])), cv2.COLOR_BGR2RGB), np.uint8)
        faces.append(model.prepare_face(image, True, 512))
        motion = model.motion(faces[-1], MotionOptions(seed=i))
        rows.append(motion.animate(motion.analyse(audio, 0, frames), np.ones(frames, bool)))
    # the warp alone, batched across sessions as the frame clock does
    out = []
    start, wall = time.process_time(), time.monotonic()
    for k in range(frames):
        out.append(model.render(faces, np.stack([r[k] for r in rows])))
    warp_cpu, batched_wall = time.process_time() - start, time.monotonic() - wall
    # the same frames one call per session-frame (no cross-session batching)
    wall = time.monotonic()
    for k in range(frames // 5):
        for i, face in enumerate(faces):
            model.render([face], rows[i][k : k + 1])
    single_wall = (time.monotonic() - wall) * 5
    model.close()
    # ffmpeg alone: one session's frames through the same encoder, paced at the frame rate
    spf = 48_000 // FPS
    sound = soxr.resample(speech(frames / FPS, SR, seed=7), SR, 48_000).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = EncoderConfig(512, 512, FPS, 13, "sliding", threads=1)
        encoder = Encoder(cfg, Path(tmp), lambda error: None, max_queue=frames)
        before, t0 = _children_cpu(), time.monotonic()
        for k in range(frames):
            encoder.write(out[k][0], sound[k * spf : (k + 1) * spf])
            time.sleep(max(0.0, t0 + (k + 1) / FPS - time.monotonic()))
        encoder.finish()
        encoder.wait(timeout=60)
        ffmpeg_cpu = _children_cpu() - before
    per_frame_warp = warp_cpu / (frames * sessions)
    per_frame_ffmpeg = ffmpeg_cpu / frames
    return {
        "warp_ms_per_frame": per_frame_warp * 1e3,
        "ffmpeg_ms_per_frame": per_frame_ffmpeg * 1e3,
        "floor_cpu_per_session_second": (per_frame_warp + per_frame_ffmpeg) * FPS,
        "batched_fps": frames * sessions / batched_wall,
        "single_fps": frames * sessions / single_wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--event-seconds", type=float, default=60.0)
    parser.add_argument("--live-seconds", type=float, default=20.0, help="per session count (120 for the 2-min run)")
    parser.add_argument("--sessions", default="1,4,8,12", help="comma-separated live session counts")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor and batching measurements")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "out" / "streaming.json")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with running_server() as server:
        results["startup"] = up = bench_startup(server)
        results["event"] = ev = bench_event(server, args.event_seconds)
        results["live"] = live = [bench_live(server, args.live_seconds, int(n)) for n in args.sessions.split(",")]
    rows = [
        ("start-up: server start → ready", f"{up['ready_seconds']:.2f} s", "≤ 5 s"),
        ("start-up: init → first segment listed (median / worst of 5)",
         f"{up['first_segment_median']:.2f} / {up['first_segment_max']:.2f} s", "≤ 0.5 s"),
        (f"event: {ev['seconds']:.0f} s of speech → ENDLIST", f"{ev['wall']:.2f} s", ""),
        ("event: video seconds per wall second", f"{ev['x_realtime']:.1f}x", "≥ 15x"),
    ]  # fmt: skip
    base = live[0]
    for r in live:
        n = int(r["sessions"])
        extra = (r["pss_mb"] - base["pss_mb"]) / (n - base["sessions"]) if n > base["sessions"] else None
        rows += [
            (f"live x{n}: chunk → first frame listed, p50 / p95",
             f"{r['latency_p50']:.2f} / {r['latency_p95']:.2f} s", "p95 ≤ 0.6 s at x12"),
            (f"live x{n}: most any stream fell behind the wall clock", f"{r['max_lag']:.2f} s", "no stall"),
            (f"live x{n}: segments contiguous, sessions in error", f"{r['contiguous']}, {r['errors']}", "True, 0"),
            (f"live x{n}: CPU s per session-second", f"{r['cpu_per_session_second']:.3f}", ""),
            (f"live x{n}: cores used by server / ffmpeg / bench client",
             f"{r['cores_server']:.2f} / {r['cores_ffmpeg']:.2f} / {r['cores_bench_client']:.2f}", "of 2"),
            (f"live x{n}: memory (server + ffmpeg), RSS / PSS" + (", PSS per extra session" if extra else ""),
             f"{r['rss_mb']:.0f} / {r['pss_mb']:.0f} MB" + (f", {extra:.0f} MB" if extra is not None else ""),
             "≤ 40 MB per session"),
        ]  # fmt: skip
    if not args.no_floor:
        results["floor"] = fl = bench_floor()
        worst = live[-1]
        ratio = worst["cpu_per_session_second"] / fl["floor_cpu_per_session_second"]
        rows += [
            ("floor: warp alone, CPU ms per frame (batch of 12)", f"{fl['warp_ms_per_frame']:.2f}", ""),
            ("floor: ffmpeg alone, CPU ms per frame (25 fps)", f"{fl['ffmpeg_ms_per_frame']:.2f}", ""),
            ("floor: CPU s per session-second", f"{fl['floor_cpu_per_session_second']:.3f}", ""),
            (f"talkstream / floor (live x{int(worst['sessions'])})", f"{ratio:.2f}x", "≤ 2x"),
            ("render throughput, one call per session-frame", f"{fl['single_fps']:.0f} frames/s", ""),
            ("render throughput, 12 sessions per call", f"{fl['batched_fps']:.0f} frames/s",
             f"{fl['batched_fps'] / fl['single_fps']:.2f}x"),
        ]  # fmt: skip
    print(table("talkstream streaming benchmark", rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
