"""Build the human-speech scoring corpus: recorded read speech with phone timings from forced alignment.

    python -m bench.human_corpus SOURCE_DIR [--out bench/data/human]

SOURCE_DIR is the ``test/data`` folder of the pocketsphinx 5.1.1 source distribution (the ``.tar.gz`` of
``pocketsphinx==5.1.1`` on PyPI). It holds a few recordings of people reading, with their transcripts: five sentences
of a LibriVox (public domain) reading of *Sense and Sensibility*, five spoken playing-card names, and "go forward ten
meters". Each is force-aligned to its transcript with pocketsphinx's own US English acoustic model and dictionary
(``pip install pocketsphinx==5.1.1``) and written as ``<id>.wav`` (16 kHz mono) plus ``<id>.json`` in the format of
``../shared/tools/visemes/score.py`` (``{"phones": [{"p", "start", "end"}], "phone_set": "cmu", "text"}``).

The output is checked in (``bench/data/human``), so ``bench.quality`` needs neither pocketsphinx nor the source.
"""

from __future__ import annotations

import argparse
import json
import re
import wave
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000
FRAME_SECONDS = 0.01  # pocketsphinx aligns in 10 ms frames


def _sources(src: Path) -> list[tuple[str, bytes, str]]:
    """(id, 16-bit mono PCM at 16 kHz, transcript) for every recording with a known transcript."""
    out: list[tuple[str, bytes, str]] = []
    for wav in sorted((src / "librivox").glob("*.wav")):
        out.append((f"librivox-{wav.stem[-4:]}", _pcm(wav), wav.with_suffix(".txt").read_text().strip()))
    for line in (src / "cards" / "cards.transcription").read_text().splitlines():
        m = re.match(r"<s>(.*)</s>\s*\((\w+)\)", line.strip())
        if m:
            out.append((f"cards-{m[2]}", _pcm(src / "cards" / f"{m[2]}.wav"), m[1].strip()))
    out.append(("goforward", (src / "goforward.raw").read_bytes(), "go forward ten meters"))
    return out


def _pcm(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            raise SystemExit(f"{path}: expected 16 kHz mono 16-bit")
        return w.readframes(w.getnframes())


def align(pcm: bytes, text: str) -> list[dict[str, Any]]:
    """Phone intervals of ``text`` in ``pcm`` (CMU phone set, SIL for pauses), by pocketsphinx forced alignment."""
    from pocketsphinx import Decoder  # only this script needs it

    decoder = Decoder(samprate=RATE, bestpath=False, loglevel="ERROR")
    decoder.set_align_text(text)
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    decoder.set_alignment()  # second pass: phone and state level
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    phones = []
    for word in decoder.get_alignment():
        for phone in word:
            start = phone.start * FRAME_SECONDS
            end = start + phone.duration * FRAME_SECONDS
            phones.append({"p": phone.name, "start": round(start, 3), "end": round(end, 3)})
    if not phones:
        raise RuntimeError(f"alignment failed for {text!r}")
    return phones


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="test/data of the pocketsphinx 5.1.1 source distribution")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "data" / "human")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for clip_id, pcm, text in _sources(args.source):
        phones = align(pcm, text)
        with wave.open(str(args.out / f"{clip_id}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(pcm)
        truth = {"phones": phones, "phone_set": "cmu", "text": text}
        (args.out / f"{clip_id}.json").write_text(json.dumps(truth, indent=None) + "\n")
        print(f"{clip_id}: {len(pcm) / 2 / RATE:.2f} s, {len(phones)} phones: {text}")


if __name__ == "__main__":
    main()
