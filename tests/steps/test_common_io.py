"""pipeline.common.io: streaming reads of every compression, and nothing partial published."""

import gzip

import pytest
import zstandard

from pipeline.common.io import StepError, read_lines, read_parallel, write_lines


def test_round_trip_zst_gz_plain(tmp_path):
    for name in ("a.zst", "a.gz", "a.txt"):
        path = str(tmp_path / name)
        with write_lines(path) as out:
            out.write_all(["één", "two", ""])
        assert list(read_lines(path)) == ["één", "two", ""]


def test_concatenated_zstd_frames_are_read_whole(tmp_path):
    frame = zstandard.ZstdCompressor().compress(b"a\nb\n")
    (tmp_path / "two.zst").write_bytes(frame + frame)
    assert list(read_lines(str(tmp_path / "two.zst"))) == ["a", "b", "a", "b"]


def test_truncated_zstd_is_an_error_naming_the_file(tmp_path):
    data = zstandard.ZstdCompressor().compress("\n".join(map(str, range(50000))).encode())
    path = tmp_path / "cut.zst"
    path.write_bytes(data[:-7])
    with pytest.raises(StepError, match="cut.zst: truncated zstd"):
        list(read_lines(str(path)))


def test_damaged_and_non_utf8_files_are_one_line_errors(tmp_path):
    (tmp_path / "bad.zst").write_bytes(b"not zstd at all")
    with pytest.raises(StepError, match="bad.zst: cannot decompress"):
        list(read_lines(str(tmp_path / "bad.zst")))
    (tmp_path / "latin1.gz").write_bytes(gzip.compress("caf\xe9\n".encode("latin-1")))
    with pytest.raises(StepError, match="latin1.gz: not UTF-8"):
        list(read_lines(str(tmp_path / "latin1.gz")))
    with pytest.raises(StepError, match="missing.zst: no such file"):
        list(read_lines(str(tmp_path / "missing.zst")))


def test_parallel_files_of_different_lengths_name_the_shorter(tmp_path):
    with write_lines(str(tmp_path / "c.ru.zst")) as out:
        out.write_all(["a", "b"])
    with write_lines(str(tmp_path / "c.en.zst")) as out:
        out.write_all(["a"])
    with pytest.raises(StepError, match="c.en.zst: has 1 lines"):
        list(read_parallel(str(tmp_path / "c.ru.zst"), str(tmp_path / "c.en.zst")))


def test_a_failed_write_publishes_nothing(tmp_path):
    path = tmp_path / "out.zst"
    with pytest.raises(RuntimeError):
        with write_lines(str(path)) as out:
            out.write("half")
            raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
