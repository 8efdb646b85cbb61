"""InferenceAgent: owns the model (and so the torch device) and one worker thread that renders for all sessions.

Render requests from any thread are queued; the worker merges every request pending at that moment into ONE
``model.render`` call, so frames of many sessions are batched together whether they come from one frame-clock tick
or from several producers.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

import numpy as np

from app.inference.model import Frame, MotionModel, MotionOptions, PreparedFace, TalkingHeadModel
from app.inference.tokens import TokenArray

__all__ = ["InferenceAgent"]

log = logging.getLogger(__name__)

_Job = tuple[Sequence[PreparedFace], TokenArray, "Future[list[Frame]]"]


class InferenceAgent:
    """The only owner of the model; ``render`` is safe to call from any thread."""

    def __init__(self, model: TalkingHeadModel, max_batch: int = 32) -> None:
        self.model = model
        self.max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.frames = 0

    def start(self) -> None:
        """Warm the model up and start the worker thread."""
        self.model.warmup()
        self._thread = threading.Thread(target=self._run, name="inference-agent", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the worker (pending requests fail) and release the model."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=10)
            self._thread = None
        self.model.close()

    def prepare_face(self, image: Frame, crop: bool, output_size: int) -> PreparedFace:
        """Analyse a source image once (runs in the caller's thread: it does not touch the render device)."""
        return self.model.prepare_face(image, crop, output_size)

    def motion(self, face: PreparedFace, options: MotionOptions) -> MotionModel:
        """A new per-session motion model."""
        return self.model.motion(face, options)

    def render(self, faces: Sequence[PreparedFace], tokens: TokenArray) -> list[Frame]:
        """Render one frame per (face, row); blocks until the worker has done it."""
        if not faces:
            return []
        if self._thread is None:
            raise RuntimeError("the inference agent is not running")
        future: Future[list[Frame]] = Future()
        self._jobs.put((faces, tokens, future))
        return future.result()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            jobs = [job]
            size = len(job[0])
            while size < self.max_batch:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)
                    break
                jobs.append(more)
                size += len(more[0])
            self._render(jobs)
        while True:  # fail whatever is left so no caller waits forever
            try:
                left = self._jobs.get_nowait()
            except queue.Empty:
                break
            if left is not None:
                left[2].set_exception(RuntimeError("the inference agent stopped"))

    def _render(self, jobs: list[_Job]) -> None:
        faces = [f for job in jobs for f in job[0]]
        tokens = np.concatenate([job[1] for job in jobs])
        try:
            frames = self.model.render(faces, tokens)
            if len(frames) != len(faces):  # a short batch would shift every later session's frames
                raise RuntimeError(f"the model rendered {len(frames)} frames for {len(faces)} requested")
        except Exception as exc:  # a failed batch fails its callers, never the worker
            log.exception("render failed")
            for job in jobs:
                job[2].set_exception(exc)
            return
        self.batches += 1
        self.frames += len(frames)
        start = 0
        for job in jobs:
            job[2].set_result(frames[start : start + len(job[0])])
            start += len(job[0])
