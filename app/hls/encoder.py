"""One ffmpeg process per session: raw I420 frames + s16le PCM in, H.264 + AAC fMP4 HLS out.

Video goes to ffmpeg's stdin, audio to a second inherited pipe; one writer thread per session converts each RGB
frame to I420 (BT.601 limited range, what ffmpeg's own conversion would give, at a third of its cost and half the
pipe bytes) and writes it followed by its audio slice, so a slow or dead encoder only ever blocks its own session,
and the conversion of many sessions runs in parallel (OpenCV releases the GIL).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import logging
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import imageio_ffmpeg
import numpy as np
import numpy.typing as npt

from app.hls.stamp import stamp

__all__ = ["PLAYLIST_NAME", "Encoder", "EncoderConfig", "EncoderError", "ffmpeg_exe"]

log = logging.getLogger(__name__)

PLAYLIST_NAME = "index.m3u8"
_PIPE_SIZE = 1 << 20  # larger pipes absorb ffmpeg's read jitter between the two inputs
_F_SETPIPE_SZ = 1031


class EncoderError(RuntimeError):
    """The encoder process failed; the message carries ffmpeg's last words."""


@dataclass(frozen=True)
class EncoderConfig:
    """Output format of one session's stream."""

    width: int
    height: int
    fps: int
    segment_frames: int
    playlist: Literal["event", "sliding"] = "event"
    list_size: int = 20
    sample_rate: int = 48_000
    audio_bitrate: str = "96k"
    preset: str = "ultrafast"
    crf: int = 23
    threads: int = 0  # x264 threads; 0 = ffmpeg's choice. Live sessions use 1: many encoders share the cores
    nice: int = 0  # added to the server's niceness for ffmpeg (see Settings.encoder_nice)
    stamp_clock: bool = False  # benchmark aid: burn the wall clock into each frame (app/hls/stamp.py)


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped by imageio-ffmpeg."""
    exe: str = imageio_ffmpeg.get_ffmpeg_exe()
    return exe


def _command(cfg: EncoderConfig, out_dir: Path, audio_fd: int) -> list[str]:
    seg = cfg.segment_frames
    flags = "independent_segments+program_date_time+temp_file"
    if cfg.playlist == "sliding":
        hls_list = ["-hls_list_size", str(cfg.list_size), "-hls_flags", flags + "+delete_segments"]
    else:
        hls_list = ["-hls_playlist_type", "event", "-hls_list_size", "0", "-hls_flags", flags]
    return [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{cfg.width}x{cfg.height}", "-framerate", str(cfg.fps),
        "-i", "pipe:0",
        "-f", "s16le", "-ar", str(cfg.sample_rate), "-ac", "1", "-i", f"pipe:{audio_fd}",
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-threads", str(cfg.threads),
        "-preset", cfg.preset, "-tune", "zerolatency", "-crf", str(cfg.crf),
        "-pix_fmt", "yuv420p", "-g", str(seg), "-keyint_min", str(seg), "-sc_threshold", "0",
        "-c:a", "aac", "-aac_coder", "fast", "-b:a", cfg.audio_bitrate,  # "fast": ~half the CPU of "twoloop"
        "-f", "hls", "-hls_time", f"{seg / cfg.fps:.6f}", "-hls_segment_type", "fmp4",
        "-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", str(out_dir / "seg_%05d.m4s"),
        *hls_list,
        str(out_dir / PLAYLIST_NAME),
    ]  # fmt: skip


_Item = tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]] | None


class Encoder:
    """A session's ffmpeg process and its writer thread.

    :meth:`write` queues a frame with its audio without blocking (False when the queue is full); :meth:`finish`
    closes the inputs so ffmpeg writes the last segment and ``#EXT-X-ENDLIST``; :meth:`kill` stops at once.
    ``on_exit(error)`` is called from the writer thread when the process has ended (``error`` None on success).
    """

    def __init__(
        self,
        cfg: EncoderConfig,
        out_dir: Path,
        on_exit: Callable[[str | None], None],
        max_queue: int = 50,
        name: str = "",
    ) -> None:
        self.cfg = cfg
        self.out_dir = out_dir
        self.on_exit = on_exit
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=max_queue)
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._name = name
        self._finished = False
        self._killed = False
        self.frames_written = 0
        out_dir.mkdir(parents=True, exist_ok=True)
        audio_r, audio_w = os.pipe()
        try:
            self._proc = subprocess.Popen(
                _command(cfg, out_dir, audio_r),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=(audio_r,),
            )
        except OSError:
            os.close(audio_w)
            raise
        finally:
            os.close(audio_r)
        self._audio = os.fdopen(audio_w, "wb", buffering=0)
        if cfg.nice:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, self._proc.pid, os.getpriority(os.PRIO_PROCESS, 0) + cfg.nice)
        assert self._proc.stdin is not None
        self._video = self._proc.stdin
        for f in (self._video, self._audio):
            with contextlib.suppress(OSError):  # the default size still works, just with more blocking
                fcntl.fcntl(f.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)
        self._stderr_thread = threading.Thread(target=self._read_stderr, name=f"ffmpeg-err-{name}", daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name=f"encoder-{name}", daemon=True)
        self._stderr_thread.start()
        self._writer.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def queued(self) -> int:
        """Frames waiting for the writer thread."""
        return self._queue.qsize()

    @property
    def room(self) -> int:
        """Frames that can be queued without blocking."""
        return 0 if self._finished else self._queue.maxsize - self._queue.qsize()

    def write(self, frame: npt.NDArray[np.uint8], audio: npt.NDArray[np.float32], timeout: float = 10.0) -> bool:
        """Queue one frame (H x W x 3 uint8) with its audio slice (float32 mono).

        Waits up to ``timeout`` seconds for room (the clock only takes as many frames as there is room for, so
        this normally never waits); False when the encoder is finished or stalled. The arrays are handed over, not
        copied: the caller must not modify them afterwards.
        """
        if self._finished:
            return False
        if frame.shape != (self.cfg.height, self.cfg.width, 3):
            raise ValueError(f"frame shape {frame.shape} != {(self.cfg.height, self.cfg.width, 3)}")
        try:
            self._queue.put((frame, audio), timeout=timeout)
        except queue.Full:
            return False
        return True

    def finish(self) -> None:
        """No more frames: flush, write the last segment and ENDLIST, let the process exit."""
        if not self._finished:
            self._finished = True
            self._queue.put(None)

    def kill(self) -> None:
        """Stop the process now (session deleted or server shutdown) and wait for the threads."""
        self._finished = self._killed = True
        if self._proc.poll() is None:
            self._proc.kill()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._writer.join(timeout=5)
        self._proc.wait(timeout=5)
        self._stderr_thread.join(timeout=5)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit; returns its exit code."""
        self._writer.join(timeout)
        return self._proc.wait(timeout)

    def _write_loop(self) -> None:
        error: str | None = None
        try:
            while (item := self._queue.get()) is not None:
                if self._proc.poll() is not None:
                    break
                frame, audio = item
                if self.cfg.stamp_clock:  # ms when the frame leaves for ffmpeg: bench/glass.py reads it back
                    frame = stamp(frame, round(time.time() * 1000))
                self._video.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).data)
                self._audio.write((np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").data)
                self.frames_written += 1
        except (BrokenPipeError, ValueError, OSError) as exc:
            error = f"encoder pipe closed: {exc}"
        finally:
            for f in (self._video, self._audio):
                with contextlib.suppress(OSError):
                    f.close()
        code = self._proc.wait()
        self._stderr_thread.join(timeout=5)
        if self._killed:
            error = None
        elif code != 0:
            last = " | ".join(self._stderr) or "no message"
            error = f"ffmpeg exited with code {code}: {last}"
        if error:
            log.warning("encoder %s failed: %s", self._name, error, extra={"session_id": self._name})
        self.on_exit(error)

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        with self._proc.stderr:
            for line in self._proc.stderr:
                text = line.decode(errors="replace").strip()
                if text:
                    self._stderr.append(text)
