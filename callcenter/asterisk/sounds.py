"""How long each sound plays, by the name Asterisk plays it under ("cc/welcome", "digits/5").

FastAGI gives no progress while a prompt plays, so the reply deadline of a media command is what it plays plus
what it waits for (session.py): this is where the first half comes from. The lengths are read once, when the
service starts, from the files themselves: our generated prompts (8 kHz 16-bit .wav, whose header says how many
bytes of audio follow at which rate) and Asterisk's stock sounds (.gsm: 33 bytes per 20 ms frame). A name not on
disk counts as ``unknown`` seconds, long enough for any prompt (Asterisk fails a missing file at once anyway).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import MappingProxyType

import structlog

from callcenter.agi import UNKNOWN_SOUND_SECONDS

log = structlog.get_logger(__name__)

# Where Asterisk looks for a language's sounds (Debian's layout, inside the root Asterisk runs in).
SOUNDS = PurePosixPath("/usr/share/asterisk/sounds")
# Bytes of audio per second of the headerless formats Asterisk plays, by file extension.
_BYTE_RATES: Mapping[str, int] = {
    "gsm": 1650,  # 33-byte frames of 20 ms
    "sln": 16000,  # signed linear 8 kHz 16-bit: 16 bytes per ms
    "raw": 16000,
    "sln16": 32000,
    "ulaw": 8000,
    "ul": 8000,
    "alaw": 8000,
    "al": 8000,
    "g722": 8000,  # 64 kbit/s
    "g729": 1000,  # 8 kbit/s
}
_WAV = frozenset({"wav", "wav16", "WAV"})
# how far into a .wav we look for its "data" chunk (sox and espeak write it within the first 100 bytes)
_WAV_HEADER_BYTES = 4096
# symlink hops followed inside a root before giving up (a loop)
_MAX_LINKS = 40


class SoundLengths:
    """The playing time of each known sound; ``seconds(files)`` is what AGISession's deadlines ask for."""

    def __init__(self, lengths: Mapping[str, float], *, unknown: float = UNKNOWN_SOUND_SECONDS) -> None:
        if unknown <= 0 or any(length < 0 for length in lengths.values()):
            raise ValueError("sound lengths must be >= 0 and the unknown length positive")
        self._lengths = MappingProxyType(dict(lengths))
        self._unknown = unknown

    @classmethod
    def scan(cls, directory: Path, *, unknown: float = UNKNOWN_SOUND_SECONDS) -> SoundLengths:
        """Read the length of every sound under ``directory`` (a language's sound directory). Blocking file I/O:
        run it in a thread. A missing directory gives an empty table (every sound unknown), with a warning."""
        lengths: dict[str, float] = {}
        if not directory.is_dir():
            log.warning("sound_lengths_missing", directory=str(directory), unknown_s=unknown)
            return cls(lengths, unknown=unknown)
        for folder, _, names in os.walk(directory):
            for filename in names:
                path = Path(folder) / filename
                length = file_seconds(path)
                if length is None:
                    continue
                name = path.relative_to(directory).with_suffix("").as_posix()
                # when a sound exists in several formats Asterisk picks one: count the longest
                lengths[name] = max(length, lengths.get(name, 0.0))
        log.info("sound_lengths_loaded", directory=str(directory), sounds=len(lengths))
        return cls(lengths, unknown=unknown)

    @classmethod
    def of_root(cls, root: Path, language: str = "en", *, unknown: float = UNKNOWN_SOUND_SECONDS) -> SoundLengths:
        """The sounds Asterisk running in ``root`` (``/`` for an Asterisk on this host) plays for ``language``."""
        return cls.scan(in_root(root, SOUNDS / language), unknown=unknown)

    def __len__(self) -> int:
        return len(self._lengths)

    def __contains__(self, name: object) -> bool:
        """Whether a file was measured for ``name`` (else ``length`` says ``unknown``)."""
        return name in self._lengths

    def overlay(self, newer: SoundLengths) -> SoundLengths:
        """This table with ``newer``'s lengths where both know a sound (prompts generated elsewhere, measured over
        a root's stock sounds)."""
        return SoundLengths({**self._lengths, **newer._lengths}, unknown=self._unknown)

    def length(self, name: str) -> float:
        """One sound's playing time in seconds; ``unknown`` for a name we have no file for."""
        return self._lengths.get(name, self._unknown)

    def seconds(self, files: Sequence[str]) -> float:
        """How long ``files`` play one after another ("" plays nothing, as in GET DATA "")."""
        return sum(self.length(name) for name in files if name)


def file_seconds(path: Path) -> float | None:
    """The playing time of one sound file from its size or header; None for a format we do not know."""
    extension = path.name.rpartition(".")[2] if "." in path.name else ""
    try:
        if extension in _WAV:
            return _wav_seconds(path)
        rate = _BYTE_RATES.get(extension)
        return None if rate is None else path.stat().st_size / rate
    except OSError as exc:
        log.warning("sound_length_unreadable", file=str(path), error=str(exc))
        return None


def _wav_seconds(path: Path) -> float | None:
    with path.open("rb") as fh:
        head = fh.read(_WAV_HEADER_BYTES)
        size = os.fstat(fh.fileno()).st_size
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    byte_rate: int | None = None
    offset = 12
    while offset + 8 <= len(head):
        chunk, length = head[offset : offset + 4], struct.unpack_from("<I", head, offset + 4)[0]
        if chunk == b"fmt " and offset + 16 <= len(head):
            # the format's average bytes per second: right for PCM and for GSM in WAV alike
            byte_rate = struct.unpack_from("<I", head, offset + 16)[0]
        elif chunk == b"data":
            if not byte_rate:
                return None
            # a streaming writer may leave the size unset (0 or 0xFFFFFFFF): what the file holds is the truth
            available = size - (offset + 8)
            return min(length, available) / byte_rate if 0 < length < 0xFFFFFFFF else available / byte_rate
        offset += 8 + length + (length & 1)
    return None


def in_root(root: Path, path: PurePosixPath) -> Path:
    """``path`` as a process chrooted into ``root`` sees it, from outside: symlinks are followed the way they
    resolve inside the root (Debian's sounds/en is a link to /etc/alternatives/..., absolute inside the root)."""
    if not path.is_absolute():
        raise ValueError(f"not an absolute path inside the root: {path}")
    parts = list(path.parts[1:])
    resolved = PurePosixPath("/")
    hops = 0
    while parts:
        part = parts.pop(0)
        if part in {"", "."}:
            continue
        if part == "..":
            resolved = resolved.parent
            continue
        candidate = resolved / part
        outside = root / candidate.relative_to("/")
        if outside.is_symlink():
            hops += 1
            if hops > _MAX_LINKS:
                raise OSError(f"too many symbolic links under {root} resolving {path}")
            target = PurePosixPath(os.readlink(outside))
            parts = [*target.parts[1:], *parts] if target.is_absolute() else [*target.parts, *parts]
            if target.is_absolute():
                resolved = PurePosixPath("/")
            continue
        resolved = candidate
    return root / resolved.relative_to("/")
