"""``python -m app``: run the server (same as the ``talkstream`` command)."""

from app.cli import main

main()
