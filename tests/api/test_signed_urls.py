"""Signed HLS URLs: the token sits in the path, so every URI a player resolves from the playlist is authorised."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx
import pytest

from app.hls.signing import HLSUrls, SignatureError
from talkstream_client import Client
from tests.conftest import RunningServer
from tests.helpers import API, feed_wav, open_session, speech_like, status, wait_for

KEY = "test-signing-key-0123456789"
_SIGNED = re.compile(r"/hls/(?P<sid>[A-Za-z0-9_-]+)/t/(?P<expiry>[0-9]+)\.(?P<sig>[A-Za-z0-9_-]{43})/index\.m3u8")


@dataclass
class Signed:
    server: RunningServer
    sid: str  # a complete event session: playlist, init segment and media segments on disk
    other: str  # a second session
    hls_url: str  # from /init


@pytest.fixture(scope="module")
def signed(server_factory: Callable[..., RunningServer], tmp_path_factory: pytest.TempPathFactory) -> Signed:
    srv = server_factory(tmp_path_factory.mktemp("hls-signed"), hls_signing_key=KEY, hls_url_ttl=600)
    with srv.client() as c:
        body = open_session(c, face=None, mode="event")
        sid = str(body["session_id"])
        assert feed_wav(c, sid, speech_like(1.6, 16_000), 16_000, final=True).status_code == 200
        wait_for(lambda: status(c, sid)["status"] == "complete", 60, what="complete")
        other = str(open_session(c, face=None, mode="event")["session_id"])
    return Signed(srv, sid, other, str(body["hls_url"]))


def _uris(playlist: str) -> list[str]:
    """Every URI a player fetches from a media playlist: EXT-X-MAP's init segment and the media segments."""
    maps = re.findall(r'#EXT-X-MAP:.*?URI="([^"]+)"', playlist)
    return maps + [line for line in playlist.splitlines() if line and not line.startswith("#")]


def _refused(c: httpx.Client, path: str, code: str) -> None:
    r = c.get(path)
    assert r.status_code == 403, (path, r.status_code, r.text)
    body = r.json()
    assert body["status"] == "error" and body["error"]["code"] == code and body["error"]["message"], body


def test_signed_playlist_url_authorises_every_uri_it_lists(signed: Signed) -> None:
    match = _SIGNED.fullmatch(signed.hls_url)
    assert match and match["sid"] == signed.sid, signed.hls_url
    assert abs(int(match["expiry"]) - (time.time() + 600)) < 60
    with signed.server.client() as c:
        playlist_url = urljoin(signed.server.url, signed.hls_url)
        r = c.get(playlist_url)
        assert r.status_code == 200 and "#EXT-X-ENDLIST" in r.text
        uris = _uris(r.text)
        assert "init.mp4" in uris and len(uris) >= 3, uris
        for uri in uris:
            media = c.get(urljoin(playlist_url, uri))  # how players resolve them: the query would be dropped
            assert media.status_code == 200 and media.content, (uri, media.status_code)
            assert media.headers["cache-control"].startswith("private"), media.headers["cache-control"]
        fresh = status(c, signed.sid)
        assert _SIGNED.fullmatch(str(fresh["hls_url"])) and fresh["hls_url_expires_at"]
        assert c.get(str(fresh["hls_url"])).status_code == 200


def test_unsigned_expired_tampered_and_foreign_urls_are_refused(signed: Signed) -> None:
    sid, urls = signed.sid, HLSUrls(KEY)
    token = urls.token(sid, int(time.time()) + 600)
    expiry, sig = token.split(".")
    with signed.server.client() as c:
        for name in ("index.m3u8", "init.mp4", "seg_00000.m4s"):
            assert c.get(f"/hls/{sid}/t/{token}/{name}").status_code == 200, name
            _refused(c, f"/hls/{sid}/{name}", "signature_required")
            _refused(c, f"/hls/{sid}/t/{urls.token(sid, int(time.time()) - 5)}/{name}", "url_expired")
            _refused(
                c, f"/hls/{sid}/t/{expiry}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}/{name}", "invalid_signature"
            )
            _refused(c, f"/hls/{sid}/t/{int(expiry) + 3600}.{sig}/{name}", "invalid_signature")
            _refused(c, f"/hls/{sid}/t/{urls.token(signed.other, int(expiry))}/{name}", "invalid_signature")
            _refused(c, f"/hls/{signed.other}/t/{token}/{name}", "invalid_signature")
            _refused(c, f"/hls/{sid}/t/{expiry}/{name}", "invalid_signature")
        _refused(c, f"/hls/{sid}/t/{token}/%2e%2e/index.m3u8", "signature_required")  # normalised away
        _refused(c, f"/hls/{sid}/t/{token}/x/index.m3u8", "signature_required")
        _refused(c, f"/hls/{sid}/t/{HLSUrls('another-key-0123456789').token(sid, int(expiry))}/index.m3u8",
                 "invalid_signature")  # fmt: skip
        for path in (f"/hls/{sid}/t/{token}/secret.txt", f"/hls/{sid}/t/{token}/.hidden.m3u8", "/hls/../app/main.py"):
            assert c.get(path).status_code == 404, path


def test_hls_url_endpoint_mints_fresh_viewer_urls(signed: Signed) -> None:
    with signed.server.client() as c:
        r = c.get(f"{API}/hls_url/{signed.sid}", params={"ttl": 60})
        assert r.status_code == 200, r.text
        body = r.json()
        match = _SIGNED.fullmatch(body["hls_url"])
        assert match and abs(int(match["expiry"]) - (time.time() + 60)) < 30 and body["hls_url_expires_at"]
        assert c.get(body["hls_url"]).status_code == 200
        assert c.get(f"{API}/hls_url/{signed.sid}", params={"ttl": 1}).status_code == 422
        assert c.get(f"{API}/hls_url/unknown-session").status_code == 404


def test_python_client_takes_the_signed_url_from_the_server(signed: Signed) -> None:
    client = Client(signed.server.url, session_id=signed.sid)
    try:
        client.status()  # attached by id: the signed URL comes with the status answer
        assert _SIGNED.fullmatch(client.hls_url.removeprefix(signed.server.url)), client.hls_url
        assert httpx.get(client.hls_url).status_code == 200
    finally:
        client.disconnect()  # the session stays open for the other tests


def test_unsigned_server_answers_plain_urls(server: RunningServer) -> None:
    with server.client() as c:
        body = open_session(c, face=None, mode="event")
        sid = body["session_id"]
        assert body["hls_url"] == f"/hls/{sid}/index.m3u8" and body["hls_url_expires_at"] is None
        minted = c.get(f"{API}/hls_url/{sid}").json()
        assert minted["hls_url"] == body["hls_url"] and minted["hls_url_expires_at"] is None
        c.delete(f"{API}/session/{sid}")


@pytest.mark.parametrize("token", ["", "123", "123.", ".sig", "1e5.abc", "١٢٣.abc", "99999999999999.abc", "12.é"])
def test_malformed_tokens_are_invalid(token: str) -> None:
    with pytest.raises(SignatureError) as err:
        HLSUrls(KEY).authorise(f"abcdefgh/t/{token}/index.m3u8")
    assert err.value.code in ("invalid_signature", "signature_required")


def test_signing_round_trip_and_expiry() -> None:
    urls = HLSUrls(KEY, ttl=100)
    url = urls.playlist("abcdefgh", now=1_000_000)
    assert url.expires_at == 1_000_100
    path = url.path.removeprefix("/hls/")
    assert urls.authorise(path, now=1_000_100) == "abcdefgh/index.m3u8"
    with pytest.raises(SignatureError, match="expired"):
        urls.authorise(path, now=1_000_101)
    assert HLSUrls().playlist("abcdefgh").path == "/hls/abcdefgh/index.m3u8"
