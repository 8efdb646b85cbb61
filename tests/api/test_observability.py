"""Logs that carry the session id (request path and background threads alike) and the metrics at /metrics."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.logs import JsonFormatter, TextFormatter
from tests.conftest import RunningServer
from tests.helpers import API, feed_wav, open_session, speech_like, status, wait_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _records_of(caplog: pytest.LogCaptureFixture, sid: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("app.") and sid in r.getMessage()]


def _lifecycle_seen(caplog: pytest.LogCaptureFixture, sid: str, words: str) -> bool:
    return any(words in r.getMessage() for r in _records_of(caplog, sid))


def test_session_logs_carry_the_session_id(server: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with server.client() as c:
        sid = str(open_session(c, face=None, mode="event")["session_id"])
        assert feed_wav(c, sid, speech_like(0.6, 16_000), 16_000, final=True).status_code == 200
        wait_for(lambda: _lifecycle_seen(caplog, sid, "complete"), 60, what="the complete record")
        assert c.delete(f"{API}/session/{sid}").status_code == 200
        failing = str(open_session(c, face=None, mode="event")["session_id"])
        server.app.state.manager.get(failing).fail("test failure")
        wait_for(lambda: _lifecycle_seen(caplog, failing, "failed"), 20, what="the failure record")
        assert status(c, failing)["last_error"] == "test failure"  # the first reason is kept
        c.delete(f"{API}/session/{failing}")
    records = _records_of(caplog, sid)
    for words in ("created: event mode, 25 fps, face by", "final chunk", "complete", "deleted"):
        assert [r for r in records if words in r.getMessage() and r.levelno == logging.INFO], words
    assert all(getattr(r, "session_id", None) == sid for r in records), [r.getMessage() for r in records]
    threads = {r.threadName for r in records}
    assert len(threads) >= 2, threads  # the request path and the encoder's writer thread
    failed = [r for r in _records_of(caplog, failing) if "failed: test failure" in r.getMessage()]
    assert failed and all(getattr(r, "session_id", None) == failing for r in failed)

    line = json.loads(JsonFormatter().format(records[0]))
    assert line["session_id"] == sid and line["level"] == "INFO" and line["logger"] == records[0].name
    assert line["message"] == records[0].getMessage() and line["time"].endswith("+00:00")
    assert f"[session {sid}]: " in TextFormatter().format(records[0])


def test_json_formatter_writes_exceptions_and_omits_unknown_sessions() -> None:
    try:
        raise ValueError("bad frame")
    except ValueError:
        record = logging.LogRecord("app.x", logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed x" and "ValueError: bad frame" in line["exception"]
    assert "session_id" not in line
    assert "[session" not in TextFormatter().format(record)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_configure_logging_formats_every_record(fmt: str) -> None:
    code = (
        "import logging, sys; from app.logs import configure_logging; configure_logging('info', sys.argv[1]); "
        "logging.getLogger('app.sessions.manager').info('created', extra={'session_id': 'abcdefgh'}); "
        "logging.getLogger('uvicorn.error').info('started'); logging.getLogger('x').debug('hidden')"
    )
    run = subprocess.run([sys.executable, "-c", code, fmt], capture_output=True, text=True, check=True, timeout=60)
    lines = run.stderr.splitlines()
    assert len(lines) == 2, lines
    if fmt == "json":
        first, second = (json.loads(line) for line in lines)
        assert first["session_id"] == "abcdefgh" and first["message"] == "created" and "session_id" not in second
    else:
        assert lines[0].endswith("INFO app.sessions.manager [session abcdefgh]: created"), lines
        assert lines[1].endswith("INFO uvicorn.error: started"), lines


# -- metrics ------------------------------------------------------------------------------------------------------
def _scrape(url: str) -> Samples:
    text = httpx.get(f"{url}/metrics").text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _latency_count(c: httpx.Client, sid: str) -> bool:
    latency = status(c, sid)["latency"]
    return isinstance(latency, dict) and latency["count"] > 0


class _Delta:
    """Metric values relative to a first scrape."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.before = _scrape(url)
        self.now = self.before

    def __call__(self, name: str, **labels: str) -> float:
        return _get(self.now, name, **labels) - _get(self.before, name, **labels)

    def scrape(self) -> _Delta:
        self.now = _scrape(self.url)
        return self


@pytest.fixture
def delta(server: RunningServer) -> Iterator[_Delta]:
    yield _Delta(server.url)


def test_metrics_follow_a_session(server: RunningServer, delta: _Delta) -> None:
    sessions = "talkstream_sessions"
    with server.client() as c:
        sid = str(open_session(c, face=None, mode="event")["session_id"])
        assert delta.scrape()(sessions, state="waiting") == 1
        assert c.post(f"{API}/init", data={"fps": "7"}).status_code == 422  # a bad request
        assert feed_wav(c, "no-such-session", speech_like(0.2, 16_000), 16_000).status_code == 404
        assert c.get("/hls/x/secret.txt").status_code == 404
        assert feed_wav(c, sid, speech_like(1.0, 16_000), 16_000, final=True).status_code == 200
        wait_for(lambda: status(c, sid)["status"] == "complete", 60, what="complete")
        wait_for(lambda: _latency_count(c, sid), 10, what="the latency to be measured")
        delta.scrape()
        assert delta(sessions, state="complete") == 1 and delta(sessions, state="waiting") == 0
        assert delta("talkstream_sessions_finished_total", state="complete") == 1
        assert delta("talkstream_frames_total", kind="speech") == 25
        assert delta("talkstream_render_batch_frames_count") >= 1
        assert delta("talkstream_render_batch_frames_sum") >= 25
        assert delta("talkstream_render_seconds_count") >= 1
        assert delta("talkstream_feed_to_playlist_seconds_count") >= 1
        assert delta("talkstream_errors_total", code="invalid_parameter") == 1
        assert delta("talkstream_errors_total", code="session_not_found") == 1
        assert delta("talkstream_errors_total", code="not_found") == 1
        assert c.delete(f"{API}/session/{sid}").status_code == 200
        assert c.get(f"{API}/status/{sid}").status_code == 404
        delta.scrape()
        assert delta(sessions, state="complete") == 0 and delta(sessions, state="waiting") == 0
        assert delta("talkstream_errors_total", code="session_not_found") == 2

        live = str(open_session(c, face=None)["session_id"])
        wait_for(lambda: status(c, live)["idle_frames"] != 0, 20, what="idle frames")
        assert delta.scrape()("talkstream_frames_total", kind="idle") > 0
        assert c.delete(f"{API}/session/{live}").status_code == 200


def test_metrics_count_encoder_failures(server: RunningServer, delta: _Delta) -> None:
    with server.client() as c:
        sid = str(open_session(c, face=None)["session_id"])  # live: idle frames reach the dead encoder at once
        os.kill(server.app.state.manager.get(sid).encoder.pid, signal.SIGKILL)
        wait_for(lambda: status(c, sid)["status"] == "error", 20, what="the session to fail")
        delta.scrape()
        assert delta("talkstream_encoder_failures_total") == 1
        assert delta("talkstream_sessions_finished_total", state="error") == 1
        assert delta("talkstream_sessions", state="error") == 1
        c.delete(f"{API}/session/{sid}")
        assert delta.scrape()("talkstream_sessions", state="error") == 0
