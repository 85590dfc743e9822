"""Score a cleaned parallel dataset with Bicleaner AI and keep the pairs above a threshold.

Inputs: `{input-prefix}.{src}.zst`, `{input-prefix}.{trg}.zst` (the cleaned dataset) and
`--model-pack` (`bicleaner-ai-{src}-{trg}.tar.zst` from download_pack.py). The model's
`metadata.yaml` says which language it expects in which column (a `{trg}-{src}` model gets the
columns swapped; the multilingual `en-xx` model gets English first).
Outputs: `{output-prefix}.{src}.zst`, `{output-prefix}.{trg}.zst`: the pairs scoring at least
`--threshold`, and `{output-prefix}.best-scores.zst`: the score of each kept pair, line-aligned.
Published artifacts: those three files.

Runs `bicleaner-ai-classify --score_only --scol 1 --tcol 2` from the `bicleaner-ai` package
(requirements/cleaners.txt: TensorFlow, installed in the GPU image, not in the test venv) on a
TSV streamed to a temporary file; the text is streamed back together with the scores. A
threshold of 0 never reaches this step: the graph leaves the task out (`skip-if-zero`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from typing import List, Optional

import yaml
import zstandard

from pipeline.common.io import StepError, read_parallel, run, write_lines


def unpack(pack: str, directory: str) -> str:
    if not os.path.isfile(pack):
        raise StepError(f"{pack}: no such model pack")
    try:
        with open(pack, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream, \
                tarfile.open(fileobj=stream, mode="r|") as tar:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.12: refuse links and paths out
                tar.extractall(directory, filter="data")
            else:
                for member in tar:
                    if member.name.startswith("/") or ".." in member.name.split("/") or member.issym() or member.islnk():
                        raise StepError(f"{pack}: unsafe member {member.name!r}")
                    tar.extract(member, directory)
    except (tarfile.TarError, zstandard.ZstdError, OSError) as exc:
        raise StepError(f"{pack}: not a zstd tar of a Bicleaner AI model ({exc})") from None
    metadata = os.path.join(directory, "metadata.yaml")
    if not os.path.isfile(metadata):
        raise StepError(f"{pack}: no metadata.yaml in the model pack")
    return metadata


def model_languages(metadata: str):
    with open(metadata, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    return str(data.get("source_lang", "")), str(data.get("target_lang", ""))


def _classifier() -> str:
    found = shutil.which("bicleaner-ai-classify", path=os.path.dirname(sys.executable)) or shutil.which(
        "bicleaner-ai-classify"
    )
    if not found:
        raise StepError("bicleaner-ai-classify: not installed (requirements/cleaners.txt, in the GPU image)")
    return found


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--trg", required=True)
    parser.add_argument("--input-prefix", required=True)
    parser.add_argument("--model-pack", required=True)
    parser.add_argument("--threshold", type=float, required=True)
    parser.add_argument("--output-prefix", required=True)
    args = parser.parse_args(argv)
    src_in, trg_in = f"{args.input_prefix}.{args.src}.zst", f"{args.input_prefix}.{args.trg}.zst"
    classifier = _classifier()
    with tempfile.TemporaryDirectory(prefix="bicleaner-") as workdir:
        model_dir = os.path.join(workdir, "model")
        model_src, model_trg = model_languages(unpack(args.model_pack, model_dir))
        swap = model_src == args.trg or (model_trg == args.src and model_src != args.src)
        tsv, scores_path = os.path.join(workdir, "input.tsv"), os.path.join(workdir, "scores.txt")
        count = 0
        with open(tsv, "w", encoding="utf-8") as out:
            for s, t in read_parallel(src_in, trg_in):
                first, second = (t, s) if swap else (s, t)
                out.write(f"{first.replace(chr(9), ' ')}\t{second.replace(chr(9), ' ')}\n")
                count += 1
        command = [classifier, "--score_only", "--scol", "1", "--tcol", "2", "--quiet", tsv, scores_path, model_dir]
        print(f"bicleaner: scoring {count} pairs with a {model_src}-{model_trg} model", file=sys.stderr)
        result = subprocess.run(command, stdout=sys.stderr)
        if result.returncode != 0:
            raise StepError(f"bicleaner-ai-classify exited with {result.returncode} on {src_in}")
        kept = scored = 0
        with open(scores_path, encoding="utf-8") as scores, \
                write_lines(f"{args.output_prefix}.{args.src}.zst") as s_out, \
                write_lines(f"{args.output_prefix}.{args.trg}.zst") as t_out, \
                write_lines(f"{args.output_prefix}.best-scores.zst") as best:
            for pair, line in zip(read_parallel(src_in, trg_in), scores):
                scored += 1
                try:
                    score = float(line.split("\t")[-1])
                except ValueError:
                    raise StepError(f"bicleaner-ai-classify: score line {scored} is {line.strip()[:30]!r}") from None
                if score >= args.threshold:
                    s_out.write(pair[0])
                    t_out.write(pair[1])
                    best.write(f"{score:.4f}")
                    kept += 1
            if scored != count:
                raise StepError(f"bicleaner-ai-classify wrote {scored} scores for {count} pairs of {src_in}")
    print(f"bicleaner: kept {kept} of {count} pairs with a score of at least {args.threshold}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
