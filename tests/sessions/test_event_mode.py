"""Event mode end to end on a real server: frame-exact video, AAC audio of the same length, a mouth that moves."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from tests.conftest import RunningServer
from tests.helpers import API, decode_frames, feed_wav, open_session, probe_hls, speech_like, status, wait_for

AAC_PRIMING = 1024  # samples the AAC encoder prepends (decoders of fragmented MP4 keep them)


def _speech_silence_speech(sr: int) -> tuple[np.ndarray, tuple[float, float]]:
    speech = speech_like(1.6, sr, seed=1, pauses=False)
    silence = np.zeros(int(1.2 * sr), np.float32)
    more = speech_like(1.6, sr, seed=2, pauses=False)
    return np.concatenate([speech, silence, more]), (1.6, 2.8)


def test_event_stream_is_frame_exact_with_audio(server: RunningServer) -> None:
    sr = 22_050
    audio, (quiet_from, quiet_to) = _speech_silence_speech(sr)
    fed_seconds = len(audio) / sr
    with server.client() as c:
        sid = str(open_session(c, mode="event", liveliness=0, chunk_duration=0.5)["session_id"])
        step = int(0.3 * sr)
        for start in range(0, len(audio), step):
            r = feed_wav(c, sid, audio[start : start + step], sr, final=start + step >= len(audio))
            assert r.status_code == 200, r.text
        assert r.json()["frames_generated"] == round(fed_seconds * 25)
        wait_for(lambda: status(c, sid)["status"] == "complete", timeout=120, what="event stream to complete")
        st = status(c, sid)
    playlist = server.hls_root / sid / "index.m3u8"
    assert playlist.read_text().rstrip().endswith("#EXT-X-ENDLIST")
    assert st["speech_frames"] == round(fed_seconds * 25) and st["idle_frames"] == 0

    info = probe_hls(playlist)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.video_frames == round(fed_seconds * 25)  # invariant 1: no overlap rendered twice
    audio_seconds = (info.audio_samples - AAC_PRIMING) / info.audio_rate
    assert abs(audio_seconds - fed_seconds) <= 1 / 25
    assert abs(info.video_seconds(25) - fed_seconds) <= 1 / 25

    frames = decode_frames(playlist, size=128).astype(np.float32)
    mouth = frames[:, 72:112, 40:88].mean(axis=3)  # lower middle of the face crop
    quiet_mouth = mouth[int((quiet_from + 0.3) * 25) : int((quiet_to - 0.1) * 25)]
    rest = np.median(quiet_mouth, axis=0)  # the mouth at rest, in silence
    change = np.abs(mouth - rest).mean(axis=(1, 2))
    quiet = change[int((quiet_from + 0.3) * 25) : int((quiet_to - 0.1) * 25)]
    speaking = change[int(0.2 * 25) : int(quiet_from * 25)]
    assert speaking.max() > 4 * max(quiet.max(), 0.5), (speaking.max(), quiet.max())
    assert np.median(speaking) > 2 * max(quiet.max(), 0.5)  # it moves through the speech, not once
    # the mouth rests during silence: consecutive quiet frames barely differ
    assert np.abs(np.diff(quiet_mouth, axis=0)).mean() < 1.0


def first_frame_is_keyframe(media: bytes, tmp_path: Path) -> bool:
    """Decode a standalone init+segment file: is its first video frame a keyframe?"""
    path = tmp_path / "one.mp4"
    path.write_bytes(media)
    out = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path), "-map", "0:v:0", "-vf", "showinfo",
         "-frames:v", "1", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    match = re.search(r"iskey:(\d)", out.stderr)
    return bool(match and match.group(1) == "1")


def test_event_playlist_segments_start_with_keyframes_and_lengths(server: RunningServer, tmp_path: Path) -> None:
    sr = 16_000
    audio = speech_like(2.6, sr, seed=3)
    with server.client() as c:
        sid = str(open_session(c, face="astronaut.png", mode="event")["session_id"])
        r = c.post(f"{API}/feed/{sid}", params={"sample_rate": sr, "format": "f32le", "is_final": "true"},
                   content=audio.astype("<f4").tobytes())  # fmt: skip
        assert r.status_code == 200, r.text
        wait_for(lambda: status(c, sid)["status"] == "complete", timeout=120, what="complete")
        text = (server.hls_root / sid / "index.m3u8").read_text()
        durations = [float(x.split(":")[1].rstrip(",")) for x in text.splitlines() if x.startswith("#EXTINF")]
        assert abs(sum(durations) - 2.6) < 0.05
        assert len(durations) == 3 and all(abs(d - 1.0) < 0.01 for d in durations[:-1])  # event: 25 frames each
        assert "#EXT-X-PLAYLIST-TYPE:EVENT" in text and "#EXT-X-TARGETDURATION:1" in text
        r = c.get(f"/hls/{sid}/index.m3u8")
        assert r.headers["content-type"] == "application/vnd.apple.mpegurl"
        assert r.headers["cache-control"] == "no-cache"
        seg = c.get(f"/hls/{sid}/seg_00000.m4s")
        assert seg.status_code == 200 and seg.headers["content-type"] == "video/iso.segment"
        assert "immutable" in seg.headers["cache-control"]
        init = c.get(f"/hls/{sid}/init.mp4")
        assert init.headers["content-type"] == "video/mp4"
        for name in ("seg_00000.m4s", "seg_00001.m4s", "seg_00002.m4s"):
            assert first_frame_is_keyframe(init.content + c.get(f"/hls/{sid}/{name}").content, tmp_path), name
