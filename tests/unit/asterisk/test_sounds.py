"""SoundLengths: the playing time of each sound, read from the files (generated .wav prompts, stock .gsm)."""

from __future__ import annotations

import os
import wave
from pathlib import Path, PurePosixPath

import pytest

from callcenter.agi import UNKNOWN_SOUND_SECONDS
from callcenter.asterisk.prompts import sound_dir
from callcenter.asterisk.sounds import SoundLengths, file_seconds, in_root
from callcenter.config import AsteriskConfig


def write_wav(path: Path, seconds: float, rate: int = 8000) -> None:
    """What sox writes for our prompts: mono 16-bit PCM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * round(seconds * rate))


def test_wav_length_comes_from_its_header(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", 3.25)
    write_wav(tmp_path / "b.wav16", 1.5, rate=16000)
    assert file_seconds(tmp_path / "a.wav") == pytest.approx(3.25)
    assert file_seconds(tmp_path / "b.wav16") == pytest.approx(1.5)


def test_a_wav_whose_size_field_was_never_filled_counts_what_the_file_holds(tmp_path: Path) -> None:
    path = tmp_path / "streamed.wav"
    write_wav(path, 2.0)
    data = bytearray(path.read_bytes())
    at = data.index(b"data") + 4
    data[at : at + 4] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data))
    assert file_seconds(path) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("name", "size", "seconds"),
    [
        ("x.gsm", 33 * 50 * 4, 4.0),  # 33 bytes per 20 ms frame
        ("x.sln", 16 * 2500, 2.5),  # 16 bytes per ms at 8 kHz
        ("x.ulaw", 8000, 1.0),
        ("x.g729", 3000, 3.0),
    ],
)
def test_headerless_formats_by_size(tmp_path: Path, name: str, size: int, seconds: float) -> None:
    (tmp_path / name).write_bytes(b"\0" * size)
    assert file_seconds(tmp_path / name) == pytest.approx(seconds)


def test_what_is_not_a_sound_has_no_length(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("Welcome")
    (tmp_path / "x.wav").write_bytes(b"not a wav file at all")
    assert file_seconds(tmp_path / "x.txt") is None
    assert file_seconds(tmp_path / "x.wav") is None


def test_scan_names_sounds_as_asterisk_plays_them(tmp_path: Path) -> None:
    write_wav(tmp_path / "cc" / "welcome.wav", 1.5)
    (tmp_path / "cc" / "welcome.txt").write_text("Welcome to the call center.")
    (tmp_path / "digits").mkdir()
    (tmp_path / "digits" / "5.gsm").write_bytes(b"\0" * 33 * 30)  # 0.6 s
    (tmp_path / "beep.gsm").write_bytes(b"\0" * 33 * 10)
    (tmp_path / "beep.sln").write_bytes(b"\0" * 16 * 500)  # the same sound in another format: the longer counts
    lengths = SoundLengths.scan(tmp_path)
    assert len(lengths) == 3
    assert lengths.length("cc/welcome") == pytest.approx(1.5)
    assert lengths.length("digits/5") == pytest.approx(0.6)
    assert lengths.length("beep") == pytest.approx(0.5)
    assert lengths.length("cc/nothing") == UNKNOWN_SOUND_SECONDS
    assert lengths.seconds(["cc/welcome", "digits/5", ""]) == pytest.approx(2.1)


def test_a_missing_directory_leaves_every_sound_unknown(tmp_path: Path) -> None:
    lengths = SoundLengths.scan(tmp_path / "nowhere", unknown=12.0)
    assert len(lengths) == 0
    assert lengths.seconds(["cc/welcome", "digits/1"]) == 24.0


def test_links_resolve_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    real = root / "usr/share/asterisk/sounds/en_US_f_Allison"
    write_wav(real / "cc" / "welcome.wav", 1.0)
    (root / "etc/alternatives").mkdir(parents=True)
    # absolute inside the root, as Debian's alternatives are: from outside they would point at the host's /usr
    os.symlink("/usr/share/asterisk/sounds/en_US_f_Allison", root / "etc/alternatives/asterisk-prompt-en")
    os.symlink("/etc/alternatives/asterisk-prompt-en", root / "usr/share/asterisk/sounds/en")
    assert in_root(root, PurePosixPath("/usr/share/asterisk/sounds/en")) == real
    assert SoundLengths.of_root(root).length("cc/welcome") == pytest.approx(1.0)


def test_a_link_loop_is_an_error(tmp_path: Path) -> None:
    os.symlink("/b", tmp_path / "a")
    os.symlink("/a", tmp_path / "b")
    with pytest.raises(OSError, match="too many symbolic links"):
        in_root(tmp_path, PurePosixPath("/a/x"))


ROOT = AsteriskConfig().root


@pytest.mark.skipif(not sound_dir(ROOT).is_dir(), reason="no Asterisk root with generated prompts on this machine")
def test_the_sandbox_root_knows_our_prompts_and_the_stock_digits() -> None:
    lengths = SoundLengths.of_root(ROOT)
    assert 0.2 < lengths.length("digits/5") < 2.0
    assert 0.5 < lengths.length("cc/welcome") < 5.0
    assert lengths.length("cc/pin-goodbye") < UNKNOWN_SOUND_SECONDS
