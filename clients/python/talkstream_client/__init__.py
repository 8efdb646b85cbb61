"""Python client for talkstream: stream speech audio to a talking-head server, get live HLS video back.

>>> from talkstream_client import Client
>>> with Client("http://127.0.0.1:9999") as client:          # doctest: +SKIP
...     client.init_session("face.jpg", mode="event")
...     client.stream_file("speech.wav", realtime=False)
...     client.wait_until_complete()
"""

from talkstream_client.audio import PcmChunk, PcmFormat, encode_pcm, read_audio_file
from talkstream_client.client import (
    API_PREFIX,
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    AsyncClient,
    AudioSource,
    Client,
    ImageSource,
    Mode,
    ProgressCallback,
    __version__,
)
from talkstream_client.errors import (
    AudioFileError,
    AuthenticationError,
    BadRequestError,
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
)

__all__ = [
    "API_PREFIX",
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "AsyncClient",
    "AudioFileError",
    "AudioSource",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "ImageSource",
    "Mode",
    "NoSessionError",
    "PayloadTooLargeError",
    "PcmChunk",
    "PcmFormat",
    "ProgressCallback",
    "QueueFullError",
    "ServerBusyError",
    "ServerError",
    "SessionNotFoundError",
    "TalkstreamConnectionError",
    "TalkstreamError",
    "ValidationError",
    "__version__",
    "encode_pcm",
    "read_audio_file",
]
