"""The Python client (clients/python): request encoding, errors and retries against httpx.MockTransport, then end
to end against a real server (event mode, default face, 404 after close, the CLI in a subprocess)."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import itertools
import json
import subprocess
import sys
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
import numpy as np
import pytest

from talkstream_client import (
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    NoSessionError,
    PayloadTooLargeError,
    QueueFullError,
    ServerBusyError,
    ServerError,
    SessionNotFoundError,
    TalkstreamConnectionError,
    TalkstreamError,
    ValidationError,
    read_audio_file,
)
from tests.conftest import RunningServer
from tests.helpers import FACES, speech_like, wait_for, wav_bytes

API = "/api/audio-driven/chunked"
BASE = "http://talkstream.test"
SID = "sess_0123456789"

Handler = Callable[[httpx.Request], httpx.Response]


# -- MockTransport helpers -------------------------------------------------------------------------------------------
def _init_body(session_id: str = SID, rate: int = 24_000) -> dict[str, Any]:
    return {
        "status": "success",
        "session_id": session_id,
        "hls_url": f"/hls/{session_id}/index.m3u8",
        "status_url": f"{API}/status/{session_id}",
        "message": "session created",
        "mode": "event",
        "params": {"audio_sample_rate": rate, "mode": "event"},
        "created_at": "2024-01-01T00:00:00+00:00",
    }


def _feed_body(frames: int = 0, final: bool = False) -> dict[str, Any]:
    return {"status": "success", "session_id": SID, "frames_generated": frames, "is_final": final}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"status": "error", "error": {"code": code, "message": message}}
    return httpx.Response(status, json=body, headers=headers)


class Recorder:
    """A MockTransport handler that records every request and answers from ``answer``."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        self.times.append(time.monotonic())
        return self.answer(request)

    def client(self, **kwargs: Any) -> Client:
        return Client(BASE, transport=httpx.MockTransport(self), **kwargs)

    def async_client(self, **kwargs: Any) -> AsyncClient:
        return AsyncClient(BASE, transport=httpx.MockTransport(self), **kwargs)


def _server_like(request: httpx.Request) -> httpx.Response:
    """Answers like the server for init, feeds (frames = requests seen), status and delete."""
    path = request.url.path
    if path.endswith("/init"):
        return httpx.Response(201, json=_init_body())
    if "/feed" in path:
        multipart_final = b'name="is_final_chunk"\r\n\r\ntrue' in request.content
        final = request.url.params.get("is_final") == "true" or multipart_final
        return httpx.Response(200, json=_feed_body(final=final))
    if request.method == "DELETE":
        return httpx.Response(200, json={"status": "success", "message": "closed"})
    return httpx.Response(200, json={"session_id": SID, "status": "complete"})


def _multipart(request: httpx.Request) -> dict[str, tuple[str | None, bytes]]:
    """``{field: (filename, content)}`` of a multipart/form-data request."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str) and isinstance(payload, bytes)
        fields[name] = (part.get_filename(), payload)
    return fields


# -- errors ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "code", "error_type"),
    [
        (400, "invalid_audio", BadRequestError),
        (401, "unauthorized", AuthenticationError),
        (404, "session_not_found", SessionNotFoundError),
        (409, "session_finished", ConflictError),
        (413, "too_large", PayloadTooLargeError),
        (422, "invalid_parameter", ValidationError),
        (429, "queue_full", QueueFullError),
        (500, "internal_error", ServerError),
        (503, "session_limit", ServerBusyError),
    ],
)
def test_json_errors_map_to_typed_exceptions(status: int, code: str, error_type: type[TalkstreamError]) -> None:
    recorder = Recorder(lambda r: _error(status, code, f"what went wrong ({status})", {"Retry-After": "2"}))
    client = recorder.client(session_id=SID, max_retries=0)
    with pytest.raises(error_type) as caught:
        client.status()
    client.disconnect()
    error = caught.value
    assert (error.status_code, error.code, error.message) == (status, code, f"what went wrong ({status})")
    assert isinstance(error, TalkstreamError)
    assert str(status) in str(error) and code in str(error)
    if status == 429:
        assert isinstance(error, QueueFullError) and error.retry_after == 2.0
    if status == 503:
        assert isinstance(error, ServerError) and isinstance(error, ServerBusyError) and error.retry_after == 2.0


@pytest.mark.parametrize(
    ("response", "error_type", "fragment"),
    [
        (httpx.Response(502, text="<html><body>Bad Gateway from nginx</body></html>"), ServerError, "nginx"),
        (httpx.Response(404), SessionNotFoundError, "Not Found"),
        (httpx.Response(422, json={"detail": "field required"}), ValidationError, "field required"),
        (httpx.Response(418, text="teapot"), TalkstreamError, "teapot"),
    ],
)
def test_non_json_error_bodies_still_give_sensible_errors(
    response: httpx.Response, error_type: type[TalkstreamError], fragment: str
) -> None:
    client = Recorder(lambda r: response).client(session_id=SID)
    with pytest.raises(error_type) as caught:
        client.status()
    client.disconnect()
    assert caught.value.status_code == response.status_code
    assert caught.value.code == f"http_{response.status_code}"
    assert fragment in caught.value.message


@pytest.mark.parametrize("failure", [httpx.ConnectError("connection refused"), httpx.ReadTimeout("")])
def test_transport_failures_raise_connection_error(failure: httpx.RequestError) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    client = Recorder(fail).client(session_id=SID)
    with pytest.raises(TalkstreamConnectionError) as caught:
        client.feed_audio_chunk(np.zeros(100, np.float32))
    client.disconnect()
    assert caught.value.status_code is None
    assert f"{API}/feed/{SID}" in caught.value.message
    assert ("connection refused" if isinstance(failure, httpx.ConnectError) else "timed out") in caught.value.message


def test_default_timeouts_and_api_key_header() -> None:
    recorder = Recorder(_server_like)
    client = recorder.client(api_key="s3cret")
    client.init_session()
    client.disconnect()
    timeout = recorder.requests[0].extensions["timeout"]
    assert (timeout["connect"], timeout["read"]) == (5.0, 60.0)
    assert recorder.requests[0].headers["authorization"] == "Bearer s3cret"
    custom = Recorder(_server_like)
    with custom.client(timeout=httpx.Timeout(10.0, connect=1.0)) as other:
        other.health()
    assert custom.requests[0].extensions["timeout"]["connect"] == 1.0
    assert "authorization" not in custom.requests[0].headers


# -- 429 retries -----------------------------------------------------------------------------------------------------
def _full_then_ok(failures: int, retry_after: str = "0.01") -> Recorder:
    def answer(request: httpx.Request) -> httpx.Response:
        if len(recorder.requests) <= failures:
            return _error(429, "queue_full", "31.0 s of speech are queued", {"Retry-After": retry_after})
        return httpx.Response(200, json=_feed_body(frames=25, final=True))

    recorder = Recorder(answer)
    return recorder


def test_429_is_retried_after_retry_after_with_the_same_request() -> None:
    recorder = _full_then_ok(failures=2)
    client = recorder.client(session_id=SID)
    chunk = np.linspace(-1, 1, 2400, dtype=np.float32)
    result = client.feed_audio_chunk(chunk, sample_rate=24_000, is_final=True)
    client.disconnect()
    assert result["frames_generated"] == 25
    assert len(recorder.requests) == 3
    # nothing is applied on a 429, so the final chunk is resent unchanged (and only until it is accepted)
    assert {bytes(r.content) for r in recorder.requests} == {chunk.astype("<f4").tobytes()}
    assert {str(r.url) for r in recorder.requests} == {str(recorder.requests[0].url)}
    assert recorder.requests[0].url.params["is_final"] == "true"
    assert all(b - a >= 0.009 for a, b in itertools.pairwise(recorder.times))


@pytest.mark.parametrize("max_retries", [0, 3])
def test_429_gives_up_after_max_retries(max_retries: int) -> None:
    recorder = _full_then_ok(failures=1000)
    client = recorder.client(session_id=SID, max_retries=max_retries)
    with pytest.raises(QueueFullError) as caught:
        client.feed_audio_chunk(b"\x00\x01" * 100)
    client.disconnect()
    assert len(recorder.requests) == max_retries + 1
    assert caught.value.retry_after == 0.01


def test_default_max_retries_is_five() -> None:
    recorder = _full_then_ok(failures=1000, retry_after="0")
    client = recorder.client(session_id=SID)
    with pytest.raises(QueueFullError):
        client.feed_audio_chunk(b"\x00\x00")
    client.disconnect()
    assert len(recorder.requests) == 6


def test_async_client_retries_429() -> None:
    recorder = _full_then_ok(failures=2)

    async def run() -> dict[str, Any]:
        async with recorder.async_client(session_id=SID, max_retries=2) as client:
            result = await client.feed_audio_chunk(np.zeros(240, np.int16), sample_rate=16_000, is_final=True)
            client.detach()
            return result

    assert asyncio.run(run())["frames_generated"] == 25
    assert len(recorder.requests) == 3


# -- encoding of audio and init fields -------------------------------------------------------------------------------
def test_float_arrays_are_sent_as_f32le() -> None:
    recorder = Recorder(_server_like)
    client = recorder.client()
    client.init_session(audio_sample_rate=22_050)
    chunk64 = np.array([0.0, 0.5, -0.25, 1.0])
    client.feed_audio_chunk(chunk64)  # sample rate: the session's
    client.feed_audio_chunk(chunk64.astype(np.float32), sample_rate=16_000, is_final=True)
    client.disconnect()
    first, second = recorder.requests[1:]
    assert first.url.path == f"{API}/feed/{SID}" and first.method == "POST"
    assert dict(first.url.params) == {"format": "f32le", "channels": "1", "is_final": "false", "sample_rate": "24000"}
    assert first.content == np.array([0.0, 0.5, -0.25, 1.0], "<f4").tobytes()
    assert first.headers["content-type"] == "application/octet-stream"
    assert dict(second.url.params) == {"format": "f32le", "channels": "1", "is_final": "true", "sample_rate": "16000"}
    assert second.content == first.content


def test_int16_stereo_and_bytes_encoding() -> None:
    recorder = Recorder(_server_like)
    client = recorder.client(session_id=SID)  # attached: the server's default rate applies unless given
    mono = np.array([0, 1000, -1000, 32767], np.int16)
    stereo = np.array([[1, -1], [2, -2], [3, -3]], np.int16)
    stereo_float = np.asfortranarray(np.array([[0.5, -0.5], [0.25, -0.25]], np.float32))
    client.feed_audio_chunk(mono, sample_rate=48_000)
    client.feed_audio_chunk(stereo, sample_rate=44_100)
    client.feed_audio_chunk(stereo_float, sample_rate=44_100)
    client.feed_audio_chunk(b"\x01\x00\x02\x00", is_final=True)
    client.disconnect()
    params = [dict(r.url.params) for r in recorder.requests]
    assert params[0] == {"format": "s16le", "channels": "1", "is_final": "false", "sample_rate": "48000"}
    assert recorder.requests[0].content == mono.astype("<i2").tobytes()
    assert params[1] == {"format": "s16le", "channels": "2", "is_final": "false", "sample_rate": "44100"}
    assert recorder.requests[1].content == np.array([1, -1, 2, -2, 3, -3], "<i2").tobytes()  # interleaved
    assert params[2]["format"] == "f32le" and params[2]["channels"] == "2"
    assert recorder.requests[2].content == np.array([0.5, -0.5, 0.25, -0.25], "<f4").tobytes()
    assert params[3] == {"format": "s16le", "channels": "1", "is_final": "true"}  # no rate: the session's
    assert recorder.requests[3].content == b"\x01\x00\x02\x00"


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 2), np.float32), np.zeros(4, np.int32)])
def test_unsupported_arrays_are_refused_before_sending(bad: np.ndarray) -> None:
    recorder = Recorder(_server_like)
    client = recorder.client(session_id=SID)
    with pytest.raises((TypeError, ValueError)):
        client.feed_audio_chunk(bad)
    client.disconnect()
    assert recorder.requests == []


def test_paths_are_sent_as_multipart(tmp_path: Path) -> None:
    path = tmp_path / "part1.wav"
    path.write_bytes(wav_bytes(speech_like(0.2, 16_000), 16_000))
    recorder = Recorder(_server_like)
    client = recorder.client()
    client.init_session()
    client.feed_audio_chunk(path)
    client.feed_audio_chunk(str(path), is_final=True)
    client.disconnect()
    for request, final in zip(recorder.requests[1:], ["false", "true"], strict=True):
        assert request.url.path == f"{API}/feed" and not request.url.params
        assert request.headers["content-type"].startswith("multipart/form-data")
        fields = _multipart(request)
        assert fields["session_id"] == (None, SID.encode())
        assert fields["is_final_chunk"] == (None, final.encode())
        assert fields["audio_chunk"] == ("part1.wav", path.read_bytes())


def test_init_sends_form_fields_and_image(tmp_path: Path) -> None:
    recorder = Recorder(_server_like)
    client = recorder.client()
    body = client.init_session(FACES / "obama.jpg", chunk_duration=1.0, crop=False, pose_style=[5, -10, 0],
                               gaze_style=(0.1, 0.0), mode="event", fps=25, session_id=SID)  # fmt: skip
    client.init_session(b"\x89PNG fake")
    client.init_session()
    client.disconnect()
    assert body["session_id"] == SID and client.session_id == SID
    assert client.hls_url == f"{BASE}/hls/{SID}/index.m3u8"
    fields = _multipart(recorder.requests[0])
    assert fields["image"] == ("obama.jpg", (FACES / "obama.jpg").read_bytes())
    assert {k: v[1].decode() for k, v in fields.items() if k != "image"} == {
        "chunk_duration": "1.0",
        "crop": "false",
        "pose_style": "[5.0, -10.0, 0.0]",
        "gaze_style": "[0.1, 0.0]",
        "mode": "event",
        "fps": "25",
        "session_id": SID,
    }
    assert _multipart(recorder.requests[1])["image"] == ("image", b"\x89PNG fake")
    assert recorder.requests[2].url.path == f"{API}/init" and b"image" not in recorder.requests[2].content


def test_no_session_and_session_calls() -> None:
    recorder = Recorder(_server_like)
    client = recorder.client()
    with pytest.raises(NoSessionError):
        client.feed_audio_chunk(b"\x00\x00")
    with pytest.raises(NoSessionError):
        _ = client.hls_url
    assert recorder.requests == []
    client.init_session()
    client.status()
    client.interrupt()
    client.close()
    client.disconnect()
    assert [(r.method, r.url.path) for r in recorder.requests[1:]] == [
        ("GET", f"{API}/status/{SID}"),
        ("POST", f"{API}/interrupt/{SID}"),
        ("DELETE", f"{API}/session/{SID}"),
    ]


def test_context_manager_closes_an_open_session_unless_detached() -> None:
    recorder = Recorder(_server_like)
    with recorder.client() as client:
        client.init_session()
    assert recorder.requests[-1].method == "DELETE"
    with recorder.client() as client:
        client.init_session()
        client.close()
    assert [r.method for r in recorder.requests].count("DELETE") == 2  # not closed twice
    with recorder.client() as client:
        client.init_session()
        assert client.detach() == SID
    assert [r.method for r in recorder.requests].count("DELETE") == 2

    async def run() -> None:
        async with recorder.async_client() as client:
            await client.init_session()

    asyncio.run(run())
    assert recorder.requests[-1].method == "DELETE"


def test_closing_an_expired_session_on_exit_is_not_an_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return _error(404, "session_not_found", "no such session")
        return _server_like(request)

    with Recorder(answer).client() as client:
        client.init_session()


# -- files -----------------------------------------------------------------------------------------------------------
def test_stream_file_sends_chunks_with_the_last_final(tmp_path: Path) -> None:
    sr = 16_000
    audio = speech_like(1.05, sr)
    path = tmp_path / "speech.wav"
    path.write_bytes(wav_bytes(audio, sr, channels=2))
    recorder = Recorder(_server_like)
    progress: list[tuple[float, float]] = []
    client = recorder.client()
    client.init_session()
    last = client.stream_file(path, chunk_duration=0.2, realtime=False, progress=lambda s, t: progress.append((s, t)))
    client.disconnect()
    feeds = recorder.requests[1:]
    assert len(feeds) == 6 and last["is_final"] is True
    assert [r.url.params["is_final"] for r in feeds] == ["false"] * 5 + ["true"]
    assert {(r.url.params["sample_rate"], r.url.params["format"], r.url.params["channels"]) for r in feeds} == {
        ("16000", "f32le", "1")
    }
    sent = np.concatenate([np.frombuffer(r.content, "<f4") for r in feeds])
    expected = (np.clip(audio, -1, 1) * 32767).astype("<i2") / 32768.0  # mono downmix of identical channels
    np.testing.assert_allclose(sent, expected, atol=1e-6)
    assert progress[-1] == (pytest.approx(1.05), pytest.approx(1.05)) and len(progress) == 6


def test_stream_file_realtime_paces_chunks_by_their_due_time(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    path.write_bytes(wav_bytes(speech_like(0.4, 8_000), 8_000))
    recorder = Recorder(_server_like)
    client = recorder.client(session_id=SID)
    client.stream_file(path, chunk_duration=0.1, realtime=True)
    client.disconnect()
    start = recorder.times[0]
    assert len(recorder.times) == 4
    for index, sent_at in enumerate(recorder.times):
        assert sent_at - start >= index * 0.1 - 0.005  # never before its audio is due


def test_async_stream_file_and_ffmpeg_decoding(tmp_path: Path) -> None:
    sr = 24_000
    wav = tmp_path / "speech.wav"
    wav.write_bytes(wav_bytes(speech_like(0.5, sr), sr))
    flac = tmp_path / "speech.flac"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(wav),
                    str(flac)], check=True, timeout=60)  # fmt: skip
    recorder = Recorder(_server_like)

    async def run() -> dict[str, Any]:
        async with recorder.async_client(session_id=SID) as client:
            result = await client.stream_file(flac, chunk_duration=0.25, realtime=False)
            client.detach()
            return result

    assert asyncio.run(run())["is_final"] is True
    sent = np.concatenate([np.frombuffer(r.content, "<f4") for r in recorder.requests])
    wav_samples, wav_rate = read_audio_file(wav)
    assert recorder.requests[0].url.params["sample_rate"] == "24000" and wav_rate == sr
    np.testing.assert_allclose(sent, wav_samples, atol=1e-4)  # FLAC is lossless


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_wav_sample_widths_decode_to_float(tmp_path: Path, width: int) -> None:
    values = np.array([0.0, 0.5, -0.5, 0.25, -1.0])
    ints = np.round(values * (2 ** (8 * width - 1) - 1)).astype(np.int64)
    if width == 1:
        raw = (ints + 128).astype(np.uint8).tobytes()
    else:
        raw = b"".join(int(v).to_bytes(width, "little", signed=True) for v in ints)
    path = tmp_path / f"w{width}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(8_000)
        w.writeframes(raw)
    samples, rate = read_audio_file(path)
    assert rate == 8_000 and samples.dtype == np.float32
    np.testing.assert_allclose(samples, values, atol=1 / 2 ** (8 * width - 2))


def test_undecodable_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp3"
    path.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(TalkstreamError, match="cannot decode"):
        read_audio_file(path)
    with pytest.raises(TalkstreamError, match="no such audio file"):
        read_audio_file(tmp_path / "missing.wav")


# -- the real server -------------------------------------------------------------------------------------------------
def _speech_file(tmp_path: Path, seconds: float, sr: int = 24_000, seed: int = 0) -> tuple[Path, float]:
    audio = speech_like(seconds, sr, seed=seed)
    path = tmp_path / f"speech_{seed}.wav"
    path.write_bytes(wav_bytes(audio, sr))
    return path, len(audio) / sr


def _playlist(url: str) -> str:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return response.text


def test_client_streams_a_file_in_event_mode(server: RunningServer, tmp_path: Path) -> None:
    path, seconds = _speech_file(tmp_path, 2.0)
    with Client(server.url) as client:
        opened = client.init_session(FACES / "obama.jpg", mode="event", chunk_duration=0.5)
        assert client.session_id == opened["session_id"]
        result = client.stream_file(path, chunk_duration=0.3, realtime=False)
        assert result["is_final"] is True
        assert result["frames_generated"] == round(seconds * 25)
        status = wait_for(lambda: (s := client.status())["status"] == "complete" and s, timeout=120,
                          what="event stream to complete")  # fmt: skip
        assert status["speech_frames"] == round(seconds * 25)
        assert client.hls_url == f"{server.url}/hls/{client.session_id}/index.m3u8"
        assert _playlist(client.hls_url).rstrip().endswith("#EXT-X-ENDLIST")


def test_async_client_streams_with_the_default_face(server: RunningServer, tmp_path: Path) -> None:
    path, seconds = _speech_file(tmp_path, 1.5, sr=16_000, seed=4)

    async def run() -> tuple[dict[str, Any], dict[str, Any], str]:
        async with AsyncClient(server.url) as client:
            await client.init_session(mode="event")
            result = await client.stream_file(path, chunk_duration=0.25, realtime=False)
            deadline = time.monotonic() + 120
            while (status := await client.status())["status"] != "complete":
                assert time.monotonic() < deadline, f"not complete: {status}"
                await asyncio.sleep(0.1)
            return result, status, await asyncio.to_thread(_playlist, client.hls_url)

    result, status, playlist = asyncio.run(run())
    assert result["frames_generated"] == round(seconds * 25)
    assert status["speech_frames"] == round(seconds * 25)
    assert playlist.rstrip().endswith("#EXT-X-ENDLIST")


def test_arrays_and_bytes_reach_the_server_as_the_right_audio(server: RunningServer) -> None:
    stereo = np.repeat((speech_like(1.0, 16_000, seed=5) * 32767).astype(np.int16)[:, None], 2, axis=1)
    mono_bytes = (speech_like(0.5, 24_000, seed=6) * 32767).astype("<i2").tobytes()
    with Client(server.url) as client:
        client.init_session(mode="event", audio_sample_rate=24_000)
        first = client.feed_audio_chunk(stereo, sample_rate=16_000)
        assert first["accepted_seconds"] == pytest.approx(1.0)
        last = client.feed_audio_chunk(mono_bytes, is_final=True)  # s16le at the session's 24 kHz
        assert last["accepted_seconds"] == pytest.approx(0.5)
        assert last["frames_generated"] == round(1.5 * 25)
        assert client.wait_until_complete(timeout=120)["speech_frames"] == round(1.5 * 25)


def test_calls_after_close_raise_session_not_found(server: RunningServer) -> None:
    with Client(server.url) as client:
        client.init_session(mode="event")
        client.close()
        with pytest.raises(SessionNotFoundError) as caught:
            client.status()
        assert caught.value.status_code == 404 and caught.value.code == "session_not_found"
        with pytest.raises(SessionNotFoundError):
            client.feed_audio_chunk(np.zeros(2400, np.float32))


def test_server_errors_arrive_typed(server: RunningServer) -> None:
    with Client(server.url) as client:
        with pytest.raises(ValidationError):
            client.init_session(mode="event", fps=7)  # 7 does not divide 48000
        client.init_session(mode="event")
        client.feed_audio_chunk(np.zeros(2400, np.float32), is_final=True)
        with pytest.raises(ConflictError):
            client.feed_audio_chunk(np.zeros(2400, np.float32))
    with pytest.raises(TalkstreamConnectionError), Client("http://127.0.0.1:9", timeout=2.0) as offline:
        offline.health()


def test_api_key_is_sent_as_a_bearer_token(server_factory: Callable[..., RunningServer], tmp_path: Path) -> None:
    secured = server_factory(tmp_path / "hls", api_key="k3y-for-tests")
    with Client(secured.url) as anonymous, pytest.raises(AuthenticationError) as caught:
        anonymous.init_session(mode="event")
    assert caught.value.code == "unauthorized"
    with Client(secured.url, api_key="k3y-for-tests") as client:
        client.init_session(mode="event")
        assert client.status()["status"] == "waiting"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "talkstream_client.cli", *args], capture_output=True, text=True,
                          timeout=240)  # fmt: skip


def test_cli_streams_a_file_and_deletes_the_session(server: RunningServer, tmp_path: Path) -> None:
    path, seconds = _speech_file(tmp_path, 1.0, seed=7)
    run = _cli("stream", str(FACES / "obama.jpg"), str(path), "--url", server.url, "--no-realtime",
               "--mode", "event")  # fmt: skip
    assert run.returncode == 0, run.stderr
    url = run.stdout.strip().splitlines()[0]
    assert url.startswith(f"{server.url}/hls/") and url.endswith("/index.m3u8")
    assert f"complete: {round(seconds * 25)} frames" in run.stderr and "#" in run.stderr  # and the progress bar
    session_id = url.split("/")[-2]
    client = Client(server.url, session_id=session_id)
    with pytest.raises(SessionNotFoundError):
        client.status()
    client.disconnect()


def test_cli_keep_and_status(server: RunningServer, tmp_path: Path) -> None:
    path, seconds = _speech_file(tmp_path, 0.8, seed=8)
    run = _cli("stream", "-", str(path), "--url", server.url, "--no-realtime", "--mode", "event", "--keep",
               "--chunk-duration", "0.5")  # fmt: skip
    assert run.returncode == 0, run.stderr
    session_id = run.stdout.strip().split("/")[-2]
    shown = _cli("status", server.url, session_id)
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["status"] == "complete" and status["speech_frames"] == round(seconds * 25)
    with Client(server.url, session_id=session_id) as client:
        client.close()
    missing = _cli("status", server.url, session_id)
    assert missing.returncode == 1 and "404" in missing.stderr


def test_cli_status_accepts_session_ids_starting_with_a_dash(server: RunningServer) -> None:
    with Client(server.url) as client:
        client.init_session(mode="event", session_id="-dash_id-0001")
        for args in (["-dash_id-0001"], ["--api-key", "unused", "-dash_id-0001"], ["--", "-dash_id-0001"]):
            shown = _cli("status", server.url, *args)
            assert shown.returncode == 0, shown.stderr
            assert json.loads(shown.stdout)["session_id"] == "-dash_id-0001"
