import pytest

from engines.io.atomic_write import write_atomically


def test_a_second_writer_of_the_same_file_never_takes_the_first_ones_temporary(tmp_path):
    """Two programs filling one cache entry at once (parallel video jobs): with a shared temporary name the
    second overwrote the first's file and the first's rename failed (FileNotFoundError)."""
    target = tmp_path / "engine.onnx"

    def slow_writer(tmp):
        tmp.write_bytes(b"A" * 1000)
        write_atomically(target, lambda t: t.write_bytes(b"B" * 1000))  # another writer finishes meanwhile
        assert tmp.read_bytes() == b"A" * 1000  # its own file, untouched

    write_atomically(target, slow_writer)
    assert target.read_bytes() == b"A" * 1000  # the last to finish wins, whole
    assert [p.name for p in tmp_path.iterdir()] == ["engine.onnx"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "stats.safetensors"
    target.write_bytes(b"old")

    def failing(tmp):
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomically(target, failing)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["stats.safetensors"]
