"""pipeline.common.http.download, the one HTTP module of the steps, used directly (as the dataset
importers use it) against the loopback server of tests/loopback_http.py."""

import os
import time

import pytest
from loopback_http import HTML, YML, make_zst, no_proxy, server  # noqa: F401 (fixtures)

from pipeline.common import http
from pipeline.common.http import Deadline, DownloadError, NotFound, Refused, TooLarge, download, redact
from pipeline.common.io import StepError




def leftovers(directory):
    return sorted(p.name for p in directory.iterdir())


def get(url, destination, **kwargs):
    return download(url, str(destination), **{"allow_private": True, "retry_wait": 0, "timeout": 20, **kwargs})


def test_download_publishes_the_file_and_reports_it(server, tmp_path):
    data = make_zst(b"line\n" * 100)
    url = server.put("c.zst", data) + "?sig=s3cr3t"
    result = get(url, tmp_path / "corpus.zst")
    assert (tmp_path / "corpus.zst").read_bytes() == data
    assert (result.size, result.url) == (len(data), url.partition("?")[0] + "?…")
    assert leftovers(tmp_path) == ["corpus.zst"]


def test_failures_are_step_errors_and_leave_nothing(server, tmp_path):
    url = server.put("page.yml", HTML)
    with pytest.raises(DownloadError) as error:
        get(url, tmp_path / "progress.yml")
    assert isinstance(error.value, StepError)
    assert str(error.value) == f"invalid progress.yml from {url}: not a YAML mapping (a str): an error page?"
    assert leftovers(tmp_path) == []


def test_not_found_is_its_own_error(server, tmp_path):
    url = server.url("files", "absent.zst")
    with pytest.raises(NotFound):
        get(url, tmp_path / "x.zst", retries=3)
    assert server.requests(url) == 1


def test_expected_sha256(server, tmp_path):
    url = server.put("pinned.yml", YML)
    with pytest.raises(DownloadError, match="sha256 mismatch for pinned.yml"):
        get(url, tmp_path / "pinned.yml", sha256="0" * 64)
    assert leftovers(tmp_path) == []


def test_verify_as_picks_the_parser(server, tmp_path):
    url = server.put("named-oddly.bin", HTML)
    with pytest.raises(DownloadError, match="not valid zstd data"):
        get(url, tmp_path / "named-oddly.bin", verify_as="data.zst")


def test_a_shared_deadline_bounds_several_downloads(server, tmp_path):
    deadline = Deadline(1.0)
    server.put("t.zst", make_zst(os.urandom(2000)))
    with pytest.raises(DownloadError, match="deadline of 1s passed"):
        get(server.url("trickle", "t.zst"), tmp_path / "a.zst", deadline=deadline)
    url = server.put("quick.yml", YML)
    with pytest.raises(DownloadError, match="deadline of 1s passed"):
        get(url, tmp_path / "b.yml", deadline=deadline)
    assert server.requests(url) == 0, "nothing is asked for once the deadline has passed"
    assert leftovers(tmp_path) == []


def test_max_bytes(server, tmp_path):
    url = server.put("big.txt", b"x" * 5000)
    with pytest.raises(TooLarge):
        get(url, tmp_path / "big.txt", max_bytes=4999)
    assert get(url, tmp_path / "big.txt", max_bytes=5000).size == 5000


def test_private_hosts_need_allow_private(server, tmp_path):
    url = server.put("p.yml", YML)
    with pytest.raises(Refused, match="127.0.0.1: it is a loopback address"):
        download(url, str(tmp_path / "p.yml"), retry_wait=0)
    assert server.requests(url) == 0


@pytest.mark.parametrize(
    "url, shown",
    [
        ("https://h.example/a/b.zst?X-Amz-Signature=abc&x=1", "https://h.example/a/b.zst?…"),
        ("https://user:pw@h.example/a", "https://h.example/a"),
        ("https://h.example/a#frag", "https://h.example/a"),
        ("http://[::1/x", "<malformed URL>"),
    ],
)
def test_redact(url, shown):
    assert redact(url) == shown


def test_retry_waits_are_bounded_by_the_deadline(server, tmp_path, monkeypatch):
    slept = []
    monkeypatch.setattr(time, "sleep", lambda seconds: slept.append(seconds))
    url = server.url("status", "503/down.yml")
    with pytest.raises(DownloadError, match="no time left for retry 3 of 5"):
        get(url, tmp_path / "down.yml", retries=5, retry_wait=10, deadline=35)
    assert slept == [10, 20]


def test_address_policy():
    assert http.address_problem("8.8.8.8") is None
    assert http.address_problem("2606:4700:4700::1111") is None
    for address in ("127.0.0.1", "10.0.0.1", "172.31.255.255", "192.168.0.1", "169.254.169.254", "::1",
                    "fc00::1", "fe80::1", "0.0.0.0", "::ffff:10.0.0.1", "100.64.0.1", "224.0.0.1"):
        assert http.address_problem(address), address


def test_a_destination_that_cannot_be_written_is_a_download_error(server, tmp_path):
    url = server.put("w.yml", YML)
    (tmp_path / "file").write_text("a file, not a directory")
    with pytest.raises(DownloadError, match=r"cannot write .*file/sub/w.yml \(w.yml\): "):
        get(url, tmp_path / "file" / "sub" / "w.yml")
