"""The Bicleaner model pack: downloaded from a loopback Hugging Face Hub in the Hub's API format,
packed, unpacked by bicleaner.py. Scoring itself needs the `bicleaner-ai` package (TensorFlow,
requirements/cleaners.txt), which the test venv does not have: bicleaner.py says so in one line."""

import json
import tarfile

import zstandard

from pipeline.bicleaner import bicleaner, download_pack
from pipeline.common.io import write_lines
from tests.steps.conftest_data import loopback, run_step  # noqa: F401

METADATA = "source_lang: en\ntarget_lang: ru\nclassifier_type: dec_attention\n"
FILES = {"metadata.yaml": METADATA.encode(), "model.h5": bytes(range(256)) * 10, "vocab/spm.model": b"spm-bytes"}


def serve_model(loopback, repo, sha="abc123"):
    loopback.add(f"/api/models/{repo}", json.dumps({"id": repo, "sha": sha,
                                                    "siblings": [{"rfilename": n} for n in FILES]}).encode())
    for name, body in FILES.items():
        loopback.add(f"/{repo}/resolve/{sha}/{name}", body)


def test_download_pack_falls_back_to_the_reverse_pair(loopback, tmp_path, monkeypatch):
    serve_model(loopback, "bitextor/bicleaner-ai-full-en-ru")
    monkeypatch.setenv("TRANSLATIONS_HF_HUB_URL", loopback.url)
    pack = tmp_path / "bicleaner-ai-ru-en.tar.zst"
    assert download_pack.main(["--src", "ru", "--trg", "en", "--output", str(pack), "--allow-private-urls"]) == 0
    assert loopback.hits[0] == "/api/models/bitextor/bicleaner-ai-full-ru-en"  # 404: tried first
    with open(pack, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream, \
            tarfile.open(fileobj=stream, mode="r|") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
    assert members == {f"./{name}": body for name, body in FILES.items()}
    # bicleaner.py reads the pack back and learns the model's column order from metadata.yaml.
    metadata = bicleaner.unpack(str(pack), str(tmp_path / "model"))
    assert bicleaner.model_languages(metadata) == ("en", "ru")
    assert (tmp_path / "model" / "vocab" / "spm.model").read_bytes() == b"spm-bytes"


def test_download_pack_without_a_model_is_one_line(loopback, tmp_path):
    result = run_step("pipeline/bicleaner/download_pack.py", "--src", "xx", "--trg", "yy", "--output",
                      tmp_path / "p.tar.zst", "--allow-private-urls", env={"TRANSLATIONS_HF_HUB_URL": loopback.url})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"download_pack.py: error: no Bicleaner AI model for xx-yy on {loopback.url}")
    assert not (tmp_path / "p.tar.zst").exists()


def test_bicleaner_without_the_package_is_one_line(tmp_path):
    for lang in ("ru", "en"):
        with write_lines(str(tmp_path / f"in.{lang}.zst")) as out:
            out.write("x")
    result = run_step("pipeline/bicleaner/bicleaner.py", "--src", "ru", "--trg", "en", "--input-prefix", tmp_path / "in",
                      "--model-pack", tmp_path / "pack.tar.zst", "--threshold", "0.5", "--output-prefix", tmp_path / "out",
                      env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "bicleaner.py: error: bicleaner-ai-classify: not installed (requirements/cleaners.txt, in the GPU image)"
    ]
