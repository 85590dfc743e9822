"""Download the Bicleaner AI model for a language pair and pack it as one artifact.

The model is the Hugging Face Hub repository `bitextor/bicleaner-ai-full-<l1>-<l2>` (what
`bicleaner-ai-download <l1> <l2> full` fetches): `{src}-{trg}` first, then `{trg}-{src}`, then
the multilingual `en-xx` model when one side is English. The file list comes from
`{hub}/api/models/<repo>` (`siblings`), each file from `{hub}/<repo>/resolve/<sha>/<file>`, all
through pipeline.common.http (retries, timeouts, atomic files). The directory must hold the
model's `metadata.yaml`.

Output: `--output` (`bicleaner-ai-{src}-{trg}.tar.zst`): a zstd tar of the model directory,
published atomically. Published artifact: `bicleaner-ai-{src}-{trg}.tar.zst`.
Test-only override: `TRANSLATIONS_HF_HUB_URL` (https://huggingface.co).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import tempfile
from typing import List, Optional

import zstandard

from pipeline.common.http import NotFound, download
from pipeline.common.io import ZSTD_LEVEL, StepError, publish, run

HUB = ("TRANSLATIONS_HF_HUB_URL", "https://huggingface.co")


def candidates(src: str, trg: str) -> List[str]:
    repos = [f"bitextor/bicleaner-ai-full-{src}-{trg}", f"bitextor/bicleaner-ai-full-{trg}-{src}"]
    if "en" in (src, trg):
        repos.append("bitextor/bicleaner-ai-full-en-xx")
    return repos


def fetch_model(repo: str, directory: str, hub: str, allow_private: bool) -> bool:
    """Download every file of `repo` into `directory`; False when the Hub has no such model."""
    listing = os.path.join(directory, ".listing.json")
    try:
        download(f"{hub}/api/models/{repo}", listing, allow_private=allow_private, what=f"{repo} file list")
    except NotFound:
        return False
    try:
        with open(listing, encoding="utf-8") as f:
            info = json.load(f)
        sha = info.get("sha") or "main"
        files = [s["rfilename"] for s in info.get("siblings", [])]
    except (ValueError, KeyError, TypeError) as exc:
        raise StepError(f"{hub}/api/models/{repo}: not a model description ({exc})") from None
    finally:
        os.unlink(listing)
    if "metadata.yaml" not in files:
        raise StepError(f"{repo}: no metadata.yaml among its files ({', '.join(files) or 'none'})")
    for name in files:
        if name.startswith("/") or ".." in name.split("/"):
            raise StepError(f"{repo}: unsafe file name {name!r}")
        destination = os.path.join(directory, name)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        download(f"{hub}/{repo}/resolve/{sha}/{name}", destination, allow_private=allow_private, what=f"{repo}/{name}")
    return True


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--trg", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--allow-private-urls", action="store_true")
    args = parser.parse_args(argv)
    hub = os.environ.get(HUB[0], HUB[1]).rstrip("/")
    with tempfile.TemporaryDirectory(prefix="bicleaner-pack-") as workdir:
        model_dir = os.path.join(workdir, "model")
        for repo in candidates(args.src, args.trg):
            os.makedirs(model_dir, exist_ok=True)
            if fetch_model(repo, model_dir, hub, args.allow_private_urls):
                print(f"download_pack: {repo} -> {args.output}", file=sys.stderr)
                break
        else:
            raise StepError(f"no Bicleaner AI model for {args.src}-{args.trg} on {hub} (tried {', '.join(candidates(args.src, args.trg))})")
        with publish(args.output) as partial, open(partial, "wb") as raw:
            with zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(raw, closefd=False) as stream:
                with tarfile.open(fileobj=stream, mode="w|") as tar:
                    tar.add(model_dir, arcname=".")
    return 0


if __name__ == "__main__":
    run(main)
