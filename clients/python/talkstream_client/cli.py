"""``talkstream-client``: stream an audio file as a talking-head video, or show a session's status."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from talkstream_client.client import DEFAULT_URL, Client
from talkstream_client.errors import TalkstreamError

__all__ = ["main"]


class _ProgressBar:
    """A one-line text progress bar, redrawn in place with a carriage return."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self._stream = stream
        self._width = width
        self._drawn = False

    def update(self, sent: float, total: float) -> None:
        done = min(1.0, sent / total) if total > 0 else 1.0
        filled = round(done * self._width)
        bar = "#" * filled + "-" * (self._width - filled)
        self._stream.write(f"\r[{bar}] {sent:6.1f} / {total:.1f} s sent")
        self._stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _stream(args: argparse.Namespace) -> int:
    client = Client(args.url, api_key=args.api_key, max_retries=args.max_retries)
    bar = _ProgressBar(sys.stderr)
    try:
        face = None if args.face == "-" else args.face
        opened = client.init_session(face, mode=args.mode)
        print(client.hls_url, flush=True)
        _log(f"session {opened['session_id']} ({args.mode} mode); streaming {args.audio}")
        client.stream_file(args.audio, chunk_duration=args.chunk_duration, realtime=args.realtime,
                           progress=bar.update)  # fmt: skip
        bar.finish()
        _log("final chunk sent; waiting for the stream to be complete")
        status = client.wait_until_complete(timeout=args.wait_timeout)
        _log(f"complete: {status['speech_frames']} frames, {status['segments_written']} segments")
        if args.keep:
            _log(f"session {client.detach()} kept open on the server")
        elif args.mode == "live" and args.linger > 0:
            _log(f"keeping the stream {args.linger:g} s more for players to reach its end")
            time.sleep(args.linger)
    finally:
        bar.finish()
        if not args.keep and client.session_id is not None:
            _close_quietly(client)
        client.disconnect()
    return 0


def _close_quietly(client: Client) -> None:
    """Delete the session; a failure here is reported, not raised (it must not hide the error that led here)."""
    try:
        client.close()
    except TalkstreamError as exc:
        _log(f"talkstream-client: warning: could not close session {client.session_id}: {exc}")
    else:
        _log(f"session {client.session_id} closed")


def _status(args: argparse.Namespace) -> int:
    client = Client(args.url, api_key=args.api_key, session_id=args.session_id)
    try:
        print(json.dumps(client.status(), indent=2))
    finally:
        client.disconnect()
    return 0


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="talkstream-client", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    stream = commands.add_parser(
        "stream",
        help="stream an audio file as a talking-head HLS video",
        description="Open a session with FACE, feed AUDIO, print the HLS URL, delete the session at the end.",
    )
    stream.add_argument("face", metavar="FACE", help="face image path, or - for the server's default face")
    stream.add_argument("audio", metavar="AUDIO", help="audio file: WAV, or anything ffmpeg decodes")
    stream.add_argument("--url", default=os.environ.get("TALKSTREAM_URL", DEFAULT_URL),
                        help="server URL (default: $TALKSTREAM_URL or %(default)s)")  # fmt: skip
    stream.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=True,
                        help="send each chunk when its audio is due, like a live source (default: on)")  # fmt: skip
    stream.add_argument("--chunk-duration", type=_positive, default=0.2,
                        help="seconds of audio per request (default: %(default)s)")  # fmt: skip
    stream.add_argument("--mode", choices=("live", "event"), default="live",
                        help="live: paced stream with idle motion; event: rendered as fast as possible")  # fmt: skip
    stream.add_argument("--api-key", default=os.environ.get("TALKSTREAM_API_KEY"),
                        help="API key (default: $TALKSTREAM_API_KEY)")  # fmt: skip
    stream.add_argument("--keep", action="store_true", help="leave the session open at the end (else it is deleted)")
    stream.add_argument("--linger", type=float, default=10.0,
                        help="live mode: seconds the finished stream stays up before it is deleted, so that players "
                        "reach its end (default: %(default)s)")  # fmt: skip
    stream.add_argument("--wait-timeout", type=_positive, default=None,
                        help="give up waiting for the stream to complete after this many seconds")  # fmt: skip
    stream.add_argument("--max-retries", type=int, default=5,
                        help="retries of a request answered 429, queue full (default: %(default)s)")  # fmt: skip
    stream.set_defaults(run=_stream)

    status = commands.add_parser("status", help="print a session's status as JSON", allow_abbrev=False)
    status.add_argument("url", metavar="URL", help="server URL, e.g. " + DEFAULT_URL)
    status.add_argument("session_id", metavar="SESSION_ID")
    status.add_argument("--api-key", default=os.environ.get("TALKSTREAM_API_KEY"),
                        help="API key (default: $TALKSTREAM_API_KEY)")  # fmt: skip
    status.set_defaults(run=_status)
    return parser


def _dash_ids_last(argv: list[str]) -> list[str]:
    """Session ids may start with ``-``, which argparse takes for an option: move them after a ``--``."""
    if not argv or argv[0] != "status" or "--" in argv:
        return argv
    kept: list[str] = []
    ids: list[str] = []
    takes_value = False
    for token in argv[1:]:
        if takes_value or not token.startswith("-") or token in ("-h", "--help") or token.startswith("--api-key="):
            kept.append(token)
            takes_value = False
        elif token == "--api-key":
            kept.append(token)
            takes_value = True
        else:
            ids.append(token)
    return ["status", *kept, "--", *ids] if ids else argv


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``talkstream-client`` command; returns the exit status."""
    args = _parser().parse_args(_dash_ids_last(list(sys.argv[1:] if argv is None else argv)))
    try:
        return int(args.run(args))
    except (TalkstreamError, TimeoutError) as exc:
        _log(f"talkstream-client: error: {exc}")
        return 1
    except KeyboardInterrupt:
        _log("talkstream-client: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
