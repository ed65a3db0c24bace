"""edge.files: the one atomic writer (the disk cache's entries, saveas into a file bucket)."""

import os

import pytest

from edge.files import write_atomically


def test_the_file_is_written_whole_and_flushed(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    write_atomically(target, b"new bytes")
    assert target.read_bytes() == b"new bytes" and len(synced) == 1
    assert os.listdir(tmp_path) == ["out.bin"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        write_atomically(target, b"new", suffix=".saving", hidden=True)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.bin"]


def test_the_temporary_is_named_for_its_sweep(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: seen.append(os.path.basename(a)) or real_replace(a, b))
    write_atomically(tmp_path / "k.jpg", b"x", suffix=".saving", hidden=True)
    write_atomically(tmp_path / "digest", b"x")
    assert seen[0].startswith(".k.jpg.") and seen[0].endswith(".saving")
    assert seen[1].startswith("digest.") and seen[1].endswith(".tmp")
