"""Bad input of every kind answers a 4xx JSON error saying what was wrong, while a live session streams on.

One server and one live session serve the whole module. Every refused request is followed by a health check and a
look at the live session's playlist (``_refused``); the last test checks that the session streamed contiguously
through all of it and never took a byte of the refused audio.
"""

from __future__ import annotations

import io
import os
import re
import struct
import wave
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
import pytest
from PIL import Image

from app.hls.staticfiles import HLSStaticFiles
from tests.conftest import RunningServer
from tests.helpers import API, FACES, feed_wav, open_session, playlist_segments, speech_like, status, wait_for

MAX_UPLOAD = 1_000_000
MAX_PIXELS = 2_000_000
CANARY = "CANARY-OUTSIDE-THE-HLS-ROOT"


# -- the server, the live session and the check after every refused request ------------------------------------------
@dataclass
class LiveSession:
    """The module's live session, watched through its playlist: ``first`` is the last segment listed when the module
    started, ``sequences`` all segment numbers seen since."""

    client: httpx.Client
    session_id: str
    hls_url: str
    first: int = -1
    sequences: set[int] = field(default_factory=set)

    def observe(self) -> int:
        """Read the playlist, assert it is one contiguous run of segments, return the last segment's number."""
        r = self.client.get(self.hls_url)
        assert r.status_code == 200, r.text
        assert "#EXT-X-DISCONTINUITY" not in r.text
        seq, names, _ = playlist_segments(r.text)
        numbers = [int(m.group(1)) for name in names if (m := re.search(r"(\d+)\.m4s$", name))]
        assert len(numbers) == len(names) and numbers == list(range(seq, seq + len(names))), r.text
        self.sequences.update(numbers)
        return seq + len(names) - 1

    def healthy(self) -> None:
        """The server answers /healthz and the live session's playlist is still one contiguous run."""
        r = self.client.get("/healthz")
        assert r.status_code == 200 and r.json()["status"] == "ok", r.text
        self.observe()


@pytest.fixture(scope="module")
def srv(server_factory: Callable[..., RunningServer], tmp_path_factory: pytest.TempPathFactory) -> RunningServer:
    """A server with small limits; its HLS root sits in a directory that also holds a canary playlist."""
    base = tmp_path_factory.mktemp("bad-input")
    (base / "canary.m3u8").write_text(f"#EXTM3U\n# {CANARY}\n")
    return server_factory(base / "hls", max_upload_bytes=MAX_UPLOAD, max_image_pixels=MAX_PIXELS)


@pytest.fixture(scope="module")
def client(srv: RunningServer) -> Iterator[httpx.Client]:
    with srv.client() as c:
        yield c


@pytest.fixture(scope="module", autouse=True)
def live(client: httpx.Client) -> Iterator[LiveSession]:
    """A live session opened before the first test of the module and closed after the last."""
    body = open_session(client, face="obama.jpg", mode="live")
    session = LiveSession(client, str(body["session_id"]), str(body["hls_url"]))
    wait_for(lambda: client.get(session.hls_url).status_code == 200 and session.observe() >= 0, 30,
             what="the live session's first segment")  # fmt: skip
    session.first = session.observe()
    yield session
    client.delete(f"{API}/session/{session.session_id}")


def _refused(live: LiveSession, r: httpx.Response, status_code: int, code: str, *words: str) -> dict[str, str]:
    """Assert the JSON error (status, code, a message naming one of ``words``), then the server's health."""
    assert r.status_code == status_code, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert body["status"] == "error", body
    error: dict[str, str] = body["error"]
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    assert error["code"] == code, body
    if words:
        assert any(w.lower() in error["message"].lower() for w in words), (words, error["message"])
    live.healthy()
    return error


@pytest.fixture
def event_session(client: httpx.Client) -> Iterator[str]:
    """A throw-away event-mode session (no idle frames: cheap) for the lifecycle cases."""
    sid = str(open_session(client, face=None, mode="event")["session_id"])
    yield sid
    client.delete(f"{API}/session/{sid}")


# -- building bad files ----------------------------------------------------------------------------------------------
def _wav(rate: int = 16_000, channels: int = 1, seconds: float = 0.25) -> bytes:
    """A valid 16-bit WAV of speech-like audio, with any rate written into its header."""
    samples = (speech_like(seconds, 16_000) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(np.repeat(samples, channels).tobytes())
    data = bytearray(buf.getvalue())
    data[24:28] = struct.pack("<I", rate)  # the stdlib refuses to write rate 0: patch the header afterwards
    return bytes(data)


def _float_wav(samples: np.ndarray[Any, Any], rate: int = 16_000) -> bytes:
    """An IEEE-float WAV (format 3): the stdlib cannot read it, so the server decodes it through ffmpeg."""
    data = samples.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def _png(width: int, height: int, rows: bytes = b"", bit_depth: int = 8, colour: int = 2) -> bytes:
    """A PNG with the given header; ``rows`` is the (uncompressed) image data, possibly not matching the header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _image(img: Image.Image, fmt: str = "PNG", **save: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


_BOUNDARY = "bad-input-boundary-7d1f"
MULTIPART = {"content-type": f"multipart/form-data; boundary={_BOUNDARY}"}


def _multipart_head(session_id: str, filename: str, content_type: str | None) -> bytes:
    """The start of a /feed multipart body built by hand, up to the audio_chunk's bytes: httpx always gives a file
    part a Content-Type, and cannot stream one."""
    head = f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="session_id"\r\n\r\n{session_id}\r\n'
    head += f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="audio_chunk"; filename="{filename}"\r\n'
    head += f"Content-Type: {content_type}\r\n\r\n" if content_type else "\r\n"
    return head.encode()


def _multipart(session_id: str, filename: str, data: bytes, content_type: str | None) -> bytes:
    return _multipart_head(session_id, filename, content_type) + data + f"\r\n--{_BOUNDARY}--\r\n".encode()


def _feed_file(client: httpx.Client, sid: str, data: bytes, content_type: str = "audio/wav") -> httpx.Response:
    return client.post(f"{API}/feed", data={"session_id": sid},
                       files={"audio_chunk": ("chunk.wav", data, content_type)})  # fmt: skip


def _feed_raw(client: httpx.Client, sid: str, data: bytes, **params: Any) -> httpx.Response:
    return client.post(f"{API}/feed/{sid}", params=params, content=data)


def _init_image(client: httpx.Client, data: bytes, content_type: str = "image/png") -> httpx.Response:
    return client.post(f"{API}/init", files={"image": ("face.png", data, content_type)})


# -- audio -----------------------------------------------------------------------------------------------------------
def test_empty_audio_file(client: httpx.Client, live: LiveSession) -> None:
    _refused(live, _feed_file(client, live.session_id, b""), 400, "invalid_audio", "empty")


def test_empty_raw_body(client: httpx.Client, live: LiveSession) -> None:
    r = _feed_raw(client, live.session_id, b"", sample_rate=24_000, format="s16le", channels=1)
    _refused(live, r, 422, "invalid_parameter", "empty")


@pytest.mark.parametrize("cut", [4, 20, 30, 40])
def test_wav_header_cut_midway(client: httpx.Client, live: LiveSession, cut: int) -> None:
    _refused(live, _feed_file(client, live.session_id, _wav()[:cut]), 400, "invalid_audio", "truncated", "decoded")


@pytest.mark.parametrize("variant", ["samples_cut", "size_inflated", "float_samples_cut"])
def test_wav_declaring_more_data_than_present(client: httpx.Client, live: LiveSession, variant: str) -> None:
    wav = _wav()
    if variant == "samples_cut":
        data = wav[: len(wav) // 2]
    elif variant == "size_inflated":
        data = wav[:40] + struct.pack("<I", 10 * len(wav)) + wav[44:]
    else:  # the ffmpeg path must not accept it either
        data = _float_wav(speech_like(0.25, 16_000))[:3000]
    error = _refused(live, _feed_file(client, live.session_id, data), 400, "invalid_audio", "truncated")
    assert "declares" in error["message"]


@pytest.mark.parametrize("placeholder", [0xFFFFFFFF, 0x7FFFF000])
def test_streamed_wav_of_unknown_length_is_not_truncated(
    client: httpx.Client, event_session: str, placeholder: int
) -> None:
    """Control for the case above: writers that cannot seek back (ffmpeg, SoX on a pipe) leave a placeholder size."""
    wav = _wav(seconds=0.25)
    r = _feed_file(client, event_session, wav[:40] + struct.pack("<I", placeholder) + wav[44:])
    assert r.status_code == 200 and abs(r.json()["accepted_seconds"] - 0.25) < 1e-3, r.text


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b'{"session_id": "x", "audio_chunk": "UklGRg=="}', "application/json"), (b"session_id=x", "text/plain")],
)
def test_feed_request_with_wrong_content_type(
    client: httpx.Client, live: LiveSession, content: bytes, content_type: str
) -> None:
    r = client.post(f"{API}/feed", content=content, headers={"content-type": content_type})
    _refused(live, r, 422, "invalid_parameter", "session_id")


def test_feed_request_without_content_type(client: httpx.Client, live: LiveSession) -> None:
    r = client.post(f"{API}/feed", content=_wav())
    assert "content-type" not in r.request.headers
    _refused(live, r, 422, "invalid_parameter", "session_id")


def test_feed_multipart_without_boundary(client: httpx.Client, live: LiveSession) -> None:
    r = client.post(f"{API}/feed", content=_wav(), headers={"content-type": "multipart/form-data"})
    _refused(live, r, 400, "bad_request", "boundary")


def test_audio_part_with_a_wrong_content_type(client: httpx.Client, live: LiveSession) -> None:
    """The container is sniffed, not trusted from the part's type: a PNG labelled audio/wav is refused."""
    png = _image(Image.open(FACES / "astronaut.png").resize((64, 64)))
    _refused(live, _feed_file(client, live.session_id, png, "audio/wav"), 400, "invalid_audio", "no audio stream")


def test_audio_part_without_content_type(client: httpx.Client, live: LiveSession) -> None:
    body = _multipart(live.session_id, "notes", b"not audio at all\n" * 20, None)
    r = client.post(f"{API}/feed", content=body, headers=MULTIPART)
    _refused(live, r, 400, "invalid_audio", "invalid data")


def test_raw_feed_with_a_wav_file_body(client: httpx.Client, live: LiveSession) -> None:
    """A WAV posted to the raw-PCM route would otherwise be played header and all."""
    r = client.post(f"{API}/feed/{live.session_id}", params={"sample_rate": 16_000}, content=_wav(),
                    headers={"content-type": "audio/wav"})  # fmt: skip
    _refused(live, r, 400, "invalid_audio", "WAV")


@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=x", "application/json", "text/plain"])
def test_raw_feed_with_a_form_or_text_content_type(
    client: httpx.Client, live: LiveSession, event_session: str, content_type: str
) -> None:
    """Such a body would be played as noise; it goes to a throw-away session in case it ever is."""
    body = b'{"samples": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]}'  # an even length: decodable as s16le noise
    assert len(body) % 2 == 0
    r = client.post(f"{API}/feed/{event_session}", content=body, headers={"content-type": content_type})
    _refused(live, r, 400, "invalid_audio", "content type", "content-type")


@pytest.mark.parametrize(
    ("data", "content_type", "says"),
    [
        (_image(Image.new("RGB", (64, 64), (200, 30, 30))), "image/png", "no audio stream"),
        (np.random.default_rng(7).bytes(6000), "audio/mpeg", "invalid data"),
        (b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n" * 50, "text/plain", "invalid data"),
    ],
    ids=["png", "random_bytes", "text"],
)
def test_non_audio_file(client: httpx.Client, live: LiveSession, data: bytes, content_type: str, says: str) -> None:
    error = _refused(live, _feed_file(client, live.session_id, data, content_type), 400, "invalid_audio", says)
    assert "could not be decoded" in error["message"]


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_raw_non_finite_samples(client: httpx.Client, live: LiveSession, value: float) -> None:
    samples = speech_like(0.2, 16_000)
    samples[1000] = value
    r = _feed_raw(client, live.session_id, samples.astype("<f4").tobytes(), sample_rate=16_000, format="f32le")
    _refused(live, r, 400, "invalid_audio", "NaN or infinite")


def test_float_wav_non_finite_samples(client: httpx.Client, live: LiveSession) -> None:
    samples = speech_like(0.2, 16_000)
    samples[::500] = np.nan
    samples[1::500] = np.inf
    _refused(live, _feed_file(client, live.session_id, _float_wav(samples)), 400, "invalid_audio", "NaN or infinite")


@pytest.mark.parametrize("rate", [0, 1, 10_000_000])
def test_raw_sample_rate_out_of_range(client: httpx.Client, live: LiveSession, rate: int) -> None:
    r = _feed_raw(client, live.session_id, b"\0\0" * 1000, sample_rate=rate, format="s16le", channels=1)
    _refused(live, r, 422, "invalid_parameter", "sample_rate")


@pytest.mark.parametrize("rate", [0, 1, 10_000_000])
@pytest.mark.parametrize("encoding", ["pcm16", "float32"])
def test_wav_header_claiming_sample_rate(client: httpx.Client, live: LiveSession, rate: int, encoding: str) -> None:
    data = _wav(rate) if encoding == "pcm16" else _float_wav(speech_like(0.25, 16_000), rate)
    _refused(live, _feed_file(client, live.session_id, data), 422, "invalid_parameter", "sample_rate")


def test_other_container_claiming_1_hz(client: httpx.Client, live: LiveSession) -> None:
    """40 kB of Sun audio at 1 Hz would decode to 20000 s (3.8 GB at 48 kHz): decoding stops at a bound."""
    au = b".snd" + struct.pack(">IIIII", 24, 40_000, 3, 1, 1) + b"\0" * 40_000  # 16-bit PCM, 1 Hz, mono
    _refused(live, _feed_file(client, live.session_id, au, "audio/basic"), 400, "invalid_audio", "longer than")


def test_raw_32_channels(client: httpx.Client, live: LiveSession) -> None:
    r = _feed_raw(client, live.session_id, b"\0\0" * 32 * 100, sample_rate=16_000, format="s16le", channels=32)
    _refused(live, r, 422, "invalid_parameter", "channels")


def test_wav_32_channels(client: httpx.Client, live: LiveSession) -> None:
    data = _wav(channels=32, seconds=0.05)
    _refused(live, _feed_file(client, live.session_id, data), 422, "invalid_parameter", "channels")


def test_oversized_chunk_with_content_length(client: httpx.Client, live: LiveSession) -> None:
    r = _feed_raw(client, live.session_id, b"\0\0" * MAX_UPLOAD, sample_rate=16_000)
    _refused(live, r, 413, "too_large", "larger than")


@pytest.mark.parametrize("route", ["raw", "multipart"])
def test_oversized_stream_is_refused_while_reading(client: httpx.Client, live: LiveSession, route: str) -> None:
    """A chunked body with no Content-Length: the 413 comes after about the limit, not after the whole stream."""
    total = 64 * 2**20
    piece = b"\0" * 2**16
    sent = 0
    if route == "raw":
        url, prefix, headers = f"{API}/feed/{live.session_id}?sample_rate=16000", b"", {}
    else:
        url, prefix, headers = f"{API}/feed", _multipart_head(live.session_id, "big.pcm", "audio/l16"), MULTIPART

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield prefix
        while sent < total:
            sent += len(piece)
            yield piece

    r = client.post(url, content=body(), headers=headers)
    assert "content-length" not in r.request.headers and r.request.headers["transfer-encoding"] == "chunked"
    _refused(live, r, 413, "too_large", "larger than")
    assert r.headers["connection"] == "close"  # the rest of the body is never read
    assert sent < total // 4, f"the client had to send {sent} of {total} bytes before the answer"


# -- images ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data", [b"definitely not an image", np.random.default_rng(3).bytes(5000), _wav()], ids=["text", "random", "wav"]
)
def test_not_an_image(client: httpx.Client, live: LiveSession, data: bytes) -> None:
    _refused(live, _init_image(client, data), 400, "invalid_image", "not an image")


@pytest.mark.parametrize(("fmt", "keep"), [("JPEG", 0.3), ("PNG", 0.5), ("PNG", 0.01)])
def test_truncated_image(client: httpx.Client, live: LiveSession, fmt: str, keep: float) -> None:
    data = _image(Image.open(FACES / "obama.jpg").convert("RGB"), fmt)
    cut = data[: int(len(data) * keep)]
    _refused(live, _init_image(client, cut, f"image/{fmt.lower()}"), 400, "invalid_image", "truncated")


def test_decompression_bomb(client: httpx.Client, live: LiveSession) -> None:
    """A complete PNG of 20000x20000 zero pixels (400 megapixels) in well under 1 MB: refused from its header."""
    row = b"\0" * (1 + 20_000 // 8)  # filter byte + 1-bit grey pixels
    bomb = _png(20_000, 20_000, row * 20_000, bit_depth=1, colour=0)
    assert len(bomb) < MAX_UPLOAD
    _refused(live, _init_image(client, bomb), 413, "too_large", "too large")


@pytest.mark.parametrize("kind", ["photo", "header_only"])
def test_image_above_max_pixels(client: httpx.Client, live: LiveSession, kind: str) -> None:
    if kind == "photo":  # a real face photo that would be accepted at a smaller size
        data = _image(Image.open(FACES / "obama.jpg").convert("RGB").resize((1600, 1600)), "JPEG", quality=70)
    else:
        data = _png(100_000, 100_000)
    assert len(data) < MAX_UPLOAD
    error = _refused(live, _init_image(client, data, "image/jpeg"), 413, "too_large", "pixels")
    assert "limit" in error["message"] or "too large" in error["message"]


@pytest.mark.parametrize("kind", ["blank", "gradient"])
def test_image_without_a_face(client: httpx.Client, live: LiveSession, kind: str) -> None:
    if kind == "blank":
        img = Image.new("RGB", (256, 256), (120, 160, 200))
    else:
        ramp = np.linspace(0, 255, 256, dtype=np.uint8)
        img = Image.fromarray(np.stack([*np.meshgrid(ramp, ramp[::-1]), np.full((256, 256), 90, np.uint8)], -1))
    _refused(live, _init_image(client, _image(img)), 422, "no_face", "no face")


# -- parameters ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value"),
    [("fps", "7"), ("fps", "47"), ("fps", "0"), ("fps", "2.5"), ("chunk_duration", "0"), ("chunk_duration", "100"),
     ("chunk_duration", "abc"), ("seed", "x"), ("seed", "1.5"), ("pose_style", "[1, 2]"), ("pose_style", "not json"),
     ("pose_style", '{"pitch": 1}'), ("pose_style", '[1, 2, "a"]'), ("pose_style", "[true, 0, 0]"), ("mode", "foo"),
     ("mode", "LIVE"), ("session_id", "../x"), ("session_id", "../../etc/passwd"), ("session_id", "abc/defghij"),
     ("session_id", "abcd\\efghij"), ("session_id", "abc defghij"), ("session_id", "short"),
     ("session_id", "x" * 65), ("session_id", "%2e%2e%2fetc%2fx")],
)  # fmt: skip
def test_init_parameter_out_of_range_or_wrong_type(
    srv: RunningServer, client: httpx.Client, live: LiveSession, name: str, value: str
) -> None:
    places = (srv.hls_root, srv.hls_root.parent, srv.hls_root.parent.parent)
    before = {p for place in places for p in place.iterdir()}
    r = client.post(f"{API}/init", data={name: value})
    _refused(live, r, 422, "invalid_parameter", name)
    after = {p for place in places for p in place.iterdir()}
    assert after <= before, after - before  # nothing created, inside the HLS root or next to it


@pytest.mark.parametrize(("name", "value"), [("pose_style", "[NaN, 0, 0]"), ("pose_style", "[1e999, 0, 0]"),
                                             ("gaze_style", "[Infinity, 0]")])  # fmt: skip
def test_init_non_finite_style(client: httpx.Client, live: LiveSession, name: str, value: str) -> None:
    """json.loads takes NaN and Infinity; a session with them would fail at its first frame. Event mode, so that
    should one ever be accepted, nothing is rendered before it is deleted."""
    r = client.post(f"{API}/init", data={name: value, "mode": "event"})
    try:
        _refused(live, r, 422, "invalid_parameter", name)
    finally:
        if r.status_code == 201:
            client.delete(f"{API}/session/{r.json()['session_id']}")


@pytest.mark.parametrize("sid", ["bad$chars!", "abc.defghij", "x" * 65])
def test_session_id_with_bad_characters_in_a_path(client: httpx.Client, live: LiveSession, sid: str) -> None:
    _refused(live, client.get(f"{API}/status/{sid}"), 422, "invalid_parameter", "session_id")


@pytest.mark.parametrize("target", [f"{API}/status/../../../healthz", f"{API}/status/..%2F..%2Fx",
                                    f"{API}/session/..%2f..%2fhls"])  # fmt: skip
def test_session_id_with_path_separators(client: httpx.Client, live: LiveSession, target: str) -> None:
    method = "DELETE" if "/session/" in target else "GET"
    r = client.send(client.build_request(method, f"{API}/status/x", extensions={"target": target.encode()}))
    _refused(live, r, 404, "not_found")


@pytest.mark.parametrize("sid", ["../x", "../../etc/passwd"])
def test_feed_with_a_traversing_session_id(client: httpx.Client, live: LiveSession, sid: str) -> None:
    _refused(live, _feed_file(client, sid, _wav()), 404, "session_not_found", "not found")


# -- session lifecycle -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", ["status", "feed", "feed_raw", "interrupt", "delete"])
def test_unknown_session(client: httpx.Client, live: LiveSession, call: str) -> None:
    sid = "no-such-session-0001"
    requests: dict[str, Callable[[], httpx.Response]] = {
        "status": lambda: client.get(f"{API}/status/{sid}"),
        "feed": lambda: _feed_file(client, sid, _wav()),
        "feed_raw": lambda: _feed_raw(client, sid, b"\0\0" * 100, sample_rate=16_000),
        "interrupt": lambda: client.post(f"{API}/interrupt/{sid}"),
        "delete": lambda: client.delete(f"{API}/session/{sid}"),
    }
    _refused(live, requests[call](), 404, "session_not_found", "not found")


def test_feed_after_final_chunk(client: httpx.Client, live: LiveSession, event_session: str) -> None:
    r = _feed_file(client, event_session, _wav(seconds=0.2))
    assert r.status_code == 200, r.text
    r = client.post(f"{API}/feed", data={"session_id": event_session, "is_final_chunk": "true"})
    assert r.status_code == 200 and r.json()["is_final"] is True, r.text
    _refused(live, _feed_file(client, event_session, _wav()), 409, "session_finished", "final")
    r = _feed_raw(client, event_session, b"\0\0" * 1000, sample_rate=16_000)
    _refused(live, r, 409, "session_finished", "final")
    r = client.post(f"{API}/feed", data={"session_id": event_session, "is_final_chunk": "true"})
    _refused(live, r, 409, "session_finished", "final")


def test_feed_and_status_after_delete(client: httpx.Client, live: LiveSession, event_session: str) -> None:
    assert client.delete(f"{API}/session/{event_session}").status_code == 200
    _refused(live, _feed_file(client, event_session, _wav()), 404, "session_not_found", "not found")
    _refused(live, _feed_raw(client, event_session, b"\0\0" * 100), 404, "session_not_found", "not found")
    _refused(live, client.get(f"{API}/status/{event_session}"), 404, "session_not_found", "not found")


def test_double_delete(srv: RunningServer, client: httpx.Client, live: LiveSession, event_session: str) -> None:
    r = client.delete(f"{API}/session/{event_session}")
    assert r.status_code == 200 and r.json()["status"] == "success", r.text
    _refused(live, client.delete(f"{API}/session/{event_session}"), 404, "session_not_found", "not found")
    assert not (srv.hls_root / event_session).exists()


# -- /hls ------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted(srv: RunningServer) -> None:
    """Files that exist but must never be served: a dotfile and a non-HLS file inside the HLS root."""
    (srv.hls_root / ".hidden.m3u8").write_text(f"#EXTM3U\n# {CANARY}\n")
    (srv.hls_root / "notes.txt").write_text(CANARY)


HLS_TARGETS = [
    "/hls/../app/main.py",
    "/hls/../canary.m3u8",
    "/hls/%2e%2e/canary.m3u8",
    "/hls/%2E%2E/%2E%2E/etc/passwd",
    "/hls/{sid}/../../canary.m3u8",
    "/hls/{sid}/../../etc/passwd",
    "/hls/{sid}/%2e%2e/%2e%2e/canary.m3u8",
    "/hls/{sid}/..%2f..%2fcanary.m3u8",
    "/hls/{sid}/..\\..\\canary.m3u8",
    "/hls/{sid}/..%5c..%5ccanary.m3u8",
    "/hls/%2fetc%2fpasswd",
    "/hls//etc/passwd",
    "/hls/{sid}/index.m3u8%00",
    "/hls/{sid}/index.m3u8%00.txt",
    "/hls/%00/index.m3u8",
    "/hls/{sid}/index.txt",
    "/hls/{sid}/segment.py",
    "/hls/notes.txt",
    "/hls/.hidden.m3u8",
    "/hls/{sid}/.index.m3u8",
    "/hls/{sid}/" + "a" * 1000 + ".m4s",
    "/hls/" + "b" * 4000 + "/index.m3u8",
]


def _get_raw(client: httpx.Client, target: str) -> httpx.Response:
    """GET with the request target sent as is: httpx would otherwise normalise away the dot segments."""
    return client.send(client.build_request("GET", "/hls/x", extensions={"target": target.encode()}))


def test_hls_targets_reach_the_server_as_sent(client: httpx.Client, live: LiveSession) -> None:
    """Control for the cases below: a normalised target would have answered the router's "Not Found"."""
    assert _get_raw(client, f"/hls/{live.session_id}/index.m3u8").status_code == 200
    _refused(live, _get_raw(client, "/hls/../app/main.py"), 404, "not_found", "not an HLS file")


@pytest.mark.usefixtures("planted")
@pytest.mark.parametrize("target", HLS_TARGETS, ids=lambda t: t[:48])
def test_hls_traversal_and_odd_names(client: httpx.Client, live: LiveSession, target: str) -> None:
    r = _get_raw(client, target.replace("{sid}", live.session_id))
    _refused(live, r, 404, "not_found")
    assert CANARY not in r.text and "root:" not in r.text and "import" not in r.text


def test_playlist_replaced_while_served_is_sent_whole(tmp_path: Path) -> None:
    """Regression (found by the live checks above): ffmpeg renames a new playlist over the old one several times a
    second; served as a file stream, a newer, longer version went out under the older one's Content-Length."""
    (tmp_path / "s").mkdir()
    playlist = tmp_path / "s" / "index.m3u8"
    playlist.write_text("#EXTM3U\n#EXTINF:0.52,\nseg_00000.m4s\n")
    newer = "#EXTM3U\n" + "".join(f"#EXTINF:0.52,\nseg_{i:05d}.m4s\n" for i in range(2))

    class RenamedAfterLookup(HLSStaticFiles):
        def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
            found = super().lookup_path(path)
            (tmp_path / "s" / "index.m3u8.tmp").write_text(newer)
            os.replace(tmp_path / "s" / "index.m3u8.tmp", playlist)  # what ffmpeg's temp_file flag does
            return found

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=RenamedAfterLookup(directory=tmp_path))
        async with httpx.AsyncClient(transport=transport, base_url="http://hls") as c:
            return await c.get("/s/index.m3u8")

    r = anyio.run(get)
    assert r.status_code == 200 and r.text == newer, r.text
    assert int(r.headers["content-length"]) == len(r.content)
    assert r.headers["content-type"] == "application/vnd.apple.mpegurl" and r.headers["cache-control"] == "no-cache"


# -- last: the live session streamed through all of the above --------------------------------------------------------
def test_live_session_streamed_contiguously_throughout(client: httpx.Client, live: LiveSession) -> None:
    st = status(client, live.session_id)
    assert st["status"] in ("waiting", "processing"), st
    assert st["audio_seconds_received"] == 0, st  # not a sample of the refused audio was applied
    last = live.observe()
    wait_for(lambda: live.observe() > last, 30, what="the live playlist to keep growing")
    seen = sorted(live.sequences)
    assert seen[0] <= live.first <= last < seen[-1], (live.first, last, seen)  # grew, and never started over
    assert seen == list(range(seen[0], seen[-1] + 1)), "a gap in the live session's segment numbers"
    # and it still takes good audio
    r = feed_wav(client, live.session_id, speech_like(0.4, 16_000), 16_000)
    assert r.status_code == 200 and abs(r.json()["accepted_seconds"] - 0.4) < 1e-3, r.text
    wait_for(lambda: status(client, live.session_id)["speech_frames"] == 10, 30, what="the speech frames")
    live.healthy()
    assert status(client, live.session_id)["status"] in ("waiting", "processing")
