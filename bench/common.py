"""Shared benchmark plumbing: a real server in a subprocess, its CPU time (with its ffmpeg children), test speech."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
FACES = Path(__file__).resolve().parents[1] / "tests" / "data" / "faces"
API = "/api/audio-driven/chunked"
_TICKS = os.sysconf("SC_CLK_TCK")

sys.path.insert(0, str(ROOT))
from tests.helpers import speech_like  # noqa: E402  (one generator for tests and benchmarks)


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    hls_root: Path
    ready_seconds: float = 0.0  # from starting the process to the first healthy /healthz

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120)

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and every live child (ffmpeg encoders, decoders)."""
        return sum(_proc_cpu(pid) for pid in [self.proc.pid, *_children(self.proc.pid)])

    def own_cpu_seconds(self) -> float:
        """User + system CPU of the server process alone (without its ffmpeg children)."""
        return _proc_cpu(self.proc.pid)

    def rss_mb(self) -> float:
        """Resident memory of the server and its children, MB."""
        return sum(_proc_rss(pid) for pid in [self.proc.pid, *_children(self.proc.pid)]) / 1e6

    def pss_mb(self) -> float:
        """Proportional memory of the server and its children, MB: like RSS, but a page shared by several processes
        (the ffmpeg binary and libraries, mapped by every encoder) counts once in all, not once per process."""
        return sum(_proc_pss(pid) for pid in [self.proc.pid, *_children(self.proc.pid)]) / 1e6


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _proc_rss(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024.0
    except FileNotFoundError:
        pass
    return 0.0


def _proc_pss(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024.0
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(**env: str) -> Iterator[Server]:
    """Start ``python -m app`` on a free port with a temporary HLS root; stop it afterwards."""
    root = Path(tempfile.mkdtemp(prefix="talkstream-bench-"))
    port = _free_port()
    environ = {**os.environ, "TALKSTREAM_HLS_ROOT": str(root), "TALKSTREAM_PORT": str(port), **env}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "app", "--log-level", "warning"], cwd=ROOT, env=environ)
    server = Server(f"http://127.0.0.1:{port}", proc, root)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    server.ready_seconds = time.monotonic() - started
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def speech(seconds: float, sr: int = 24_000, seed: int = 0) -> npt.NDArray[np.float32]:
    """Speech for benchmarks: espeak-ng sentences when installed (real phonetics), else syllable-like audio."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return speech_like(seconds, sr, seed=seed)
    text = (
        "The quick brown fox jumps over the lazy dog. Bob bought a map of the big palm beach. "
        "We will meet Pete at the sweet peach tree. Move the blue boots into the room, Ruth. "
    )
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run([exe, "-w", f.name, text * 10], check=True, capture_output=True)
        import wave

        with wave.open(f.name) as w:
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    import soxr

    audio = soxr.resample(pcm, rate, sr).astype(np.float32)
    return np.resize(audio, round(seconds * sr))


def feed_raw(client: httpx.Client, sid: str, audio: npt.NDArray[np.float32], sr: int, final: bool = False) -> None:
    r = client.post(
        f"{API}/feed/{sid}",
        params={"sample_rate": sr, "format": "f32le", "is_final": str(final).lower()},
        content=audio.astype("<f4").tobytes(),
    )
    r.raise_for_status()


class LightClient:
    """A minimal keep-alive HTTP client (http.client) for load generation: the server shares this machine's cores
    with the benchmark, so the feeders must cost as little CPU as possible (httpx costs ~10x more per request)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self._conn = http.client.HTTPConnection(host, int(port), timeout=120)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        self._conn.request(method, path, body=body)
        response = self._conn.getresponse()
        return response.status, response.read()

    def feed_raw(self, sid: str, audio: npt.NDArray[np.float32], sr: int, final: bool = False) -> None:
        """Raw f32le PCM to ``/feed/{sid}``; raises on any answer but 200."""
        query = f"sample_rate={sr}&format=f32le&is_final={str(final).lower()}"
        status, body = self.request("POST", f"{API}/feed/{sid}?{query}", audio.astype("<f4").tobytes())
        if status != 200:
            raise RuntimeError(f"feed answered {status}: {body[:200]!r}")

    def status(self, sid: str) -> dict[str, Any]:
        code, body = self.request("GET", f"{API}/status/{sid}")
        if code != 200:
            raise RuntimeError(f"status answered {code}: {body[:200]!r}")
        out: dict[str, Any] = json.loads(body)
        return out

    def close(self) -> None:
        self._conn.close()


def table(title: str, rows: Sequence[tuple[str, str, str]]) -> str:
    """A Markdown table of (measure, value, target) rows."""
    lines = [f"### {title}", "", "| measure | value | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)
