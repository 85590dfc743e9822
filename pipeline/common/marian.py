"""Marian invocation, shared by every step that trains or uses a model.

- `marian_command(tool)`: the argv prefix of a Marian tool through pymarian's console script
  (`pymarian train|decode|score|convert|vocab`).
- `parse_options` / `merge_options` / `render_options`: Marian command-line options as an ordered
  {option: [values]} mapping, so a preset can be overridden option by option by the config's
  `marian-args` (the later mapping wins). `--option false` removes the option, whatever set it (a
  preset, a step's defaults): the graph renders a config's `option: false` (or null) that way.
- `run_marian(argv, log_path)`: runs Marian with its output copied to the step's stderr and to a
  log file, under a watchdog timeout (`MARIAN_TIMEOUT` seconds, unset: none), forwarding SIGTERM
  to Marian (which saves a checkpoint with `--sigterm save-and-exit`, Marian's default) and
  reporting that as `MarianTerminated` once Marian has exited.
- Checkpoint facts: Marian's file names in a model directory, reading progress.yml, the number of
  units `--after` asks for, embedding sizes of an `.npz` read from the array headers only, and the
  SentencePiece vocab size and digest — what the vocab-fit check before training compares.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import zipfile
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional

import numpy as np
import yaml

from pipeline.common.io import StepError

# Marian's names in a model directory for `--model DIR/model.npz`.
MODEL = "model.npz"
CHECKPOINT_SUFFIXES = ("", ".optimizer.npz", ".progress.yml", ".yml")


def checkpoint_names(best_metric: str) -> List[str]:
    """Every file a resumed run needs beside it, under Marian's names."""
    return [MODEL + suffix for suffix in CHECKPOINT_SUFFIXES] + [best_name(best_metric)]


def best_name(metric: str) -> str:
    return f"{MODEL}.best-{metric}.npz"


def marian_command(tool: str) -> List[str]:
    """`pymarian <tool>`; the console script beside this Python first, then on PATH."""
    override = os.environ.get("PYMARIAN")
    if override:
        return [override, tool]
    beside = os.path.join(os.path.dirname(sys.executable), "pymarian")
    if os.path.exists(beside):
        return [beside, tool]
    found = shutil.which("pymarian")
    if not found:
        raise StepError("pymarian: command not found (install the steps requirements: requirements/steps.txt)")
    return [found, tool]


# ------------------------------------------------------------------------------------------------
# Options.
_OPTION = re.compile(r"^--?[A-Za-z]")


def parse_options(argv: Iterable[str]) -> "OrderedDict[str, List[str]]":
    """`['--after', '50u', '--dim-vocabs', '8', '8', '--overwrite']` -> {after: [50u], ...}.

    An option is a token starting with `-` and a letter (so `-4000` is a value); `--x=v` is one
    option with one value. A value before any option is an error.
    """
    options: "OrderedDict[str, List[str]]" = OrderedDict()
    current = None
    for token in argv:
        if _OPTION.match(token):
            name, eq, value = token.lstrip("-").partition("=")
            current = name
            options[current] = [value] if eq else []
        elif current is None:
            raise StepError(f"Marian arguments: {token!r} is not an option (options start with --)")
        else:
            options[current].append(token)
    return options


REMOVED = "false"


def is_removal(values: Iterable[str]) -> bool:
    """`--option false`: the option is removed (no Marian option takes the lone value `false`)."""
    return [str(v).lower() for v in values] == [REMOVED]


def given(options: Dict[str, List[str]]) -> set:
    """The options a layer sets (not the ones it removes)."""
    return {name for name, values in options.items() if not is_removal(values)}


def merge_options(*layers: Dict[str, List[str]]) -> "OrderedDict[str, List[str]]":
    """Later layers override earlier ones option by option; `--option false` removes the option."""
    merged: "OrderedDict[str, List[str]]" = OrderedDict()
    for layer in layers:
        for name, values in layer.items():
            merged.pop(name, None)
            if is_removal(values):
                continue
            merged[name] = [str(v) for v in values]
    return merged


def render_options(options: Dict[str, List[str]]) -> List[str]:
    argv: List[str] = []
    for name, values in options.items():
        argv.append(f"--{name}")
        argv.extend(values)
    return argv


# ------------------------------------------------------------------------------------------------
# Running Marian.
class MarianTerminated(Exception):
    """Marian was stopped by a SIGTERM forwarded to it (it saves a checkpoint first)."""


class MarianFailed(StepError):
    pass


def _timeout_seconds(timeout: Optional[float]) -> Optional[float]:
    if timeout is not None:
        return timeout
    value = os.environ.get("MARIAN_TIMEOUT")
    return float(value) if value else None


def run_marian(argv: List[str], log_path: Optional[str] = None, *, timeout: Optional[float] = None,
               what: str = "Marian", stdin=None, stdout=None, marian_log: Optional[str] = None) -> None:
    """Run Marian; its stderr goes to our stderr and to `log_path`. Failure is a StepError: one
    line with Marian's own error line and the log to read (`log_path`, or `marian_log`, the file
    Marian writes with its --log).

    SIGTERM during the run is forwarded to Marian; when Marian has exited, MarianTerminated is
    raised so the caller can publish what Marian saved.
    """
    limit = _timeout_seconds(timeout)
    log = open(log_path, "a", encoding="utf-8", errors="replace") if log_path else None
    terminated = threading.Event()
    process = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)

    def forward(signum, frame):
        terminated.set()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, forward) if in_main_thread else None
    tail: List[str] = []

    def pump():
        for raw in process.stderr:
            line = raw.decode("utf-8", errors="replace")
            sys.stderr.write(line)
            if log:
                log.write(line)
            tail.append(line.rstrip("\n"))
            del tail[:-40]

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        try:
            process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            process.kill()
            process.wait()
        reader.join()
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        if log:
            log.close()
        sys.stderr.flush()
    if terminated.is_set():
        raise MarianTerminated()
    log_hint = log_path or (marian_log if marian_log and os.path.exists(marian_log) else None)
    where = f" (log: {log_hint})" if log_hint else " (Marian's output is above)"
    if timed_out:
        raise MarianFailed(f"{what}: no result after {limit:g} s (watchdog MARIAN_TIMEOUT); killed{where}")
    code = process.returncode
    if code != 0:
        status = f"killed by {_signal_name(-code)}" if code < 0 else f"exit status {code}"
        raise MarianFailed(f"{what} failed ({status}): {marian_error(tail)}{where}")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def marian_error(tail: List[str]) -> str:
    """The most telling line of Marian's last output (its `Error:` line, else the last line)."""
    errors = [line.split("Error:", 1)[1].strip() for line in tail if "Error:" in line]
    errors = [e for e in errors if not e.startswith("Aborted from")] or errors
    if errors:
        return errors[0]
    meaningful = [line for line in tail if line.strip() and not line.startswith("[0x")]
    return meaningful[-1].strip() if meaningful else "no output"


# ------------------------------------------------------------------------------------------------
# Checkpoints, models and vocabs.
def read_progress(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as stream:
            data = yaml.safe_load(stream)
    except FileNotFoundError:
        raise StepError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        raise StepError(f"{path}: not Marian's progress YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or "batches" not in data:
        raise StepError(f"{path}: not Marian's progress file (no `batches`)")
    return data


_UNITS = {"u": "batches", "e": "epochs", "t": "labels-total"}
_MULTIPLIERS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}


def parse_after(value: str):
    """`--after` as (count, progress key): `50u` -> (50, 'batches'); `10Gt` -> (10**10, 'labels-total').

    A count of 0 means no limit: returns None.
    """
    match = re.fullmatch(r"(\d+)([kKmMgG]?)([uet]?)", value.strip())
    if not match:
        raise StepError(f"Marian option --after {value!r}: expected a count with a unit (u, e or t), e.g. 50u")
    count = int(match.group(1)) * _MULTIPLIERS[match.group(2).lower()]
    if count == 0:
        return None
    return count, _UNITS[match.group(3) or "e"]


def format_after(count: int, key: str) -> str:
    unit = {v: k for k, v in _UNITS.items()}[key]
    return f"{count}{unit}"


def npz_shapes(path: str) -> Dict[str, tuple]:
    """{parameter: shape} of a Marian `.npz`, read from the array headers (no weights loaded)."""
    shapes = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    if version == (1, 0):
                        shape, _order, _dtype = np.lib.format.read_array_header_1_0(member)
                    else:
                        shape, _order, _dtype = np.lib.format.read_array_header_2_0(member)
                shapes[info.filename[: -len(".npy")]] = shape
    except FileNotFoundError:
        raise StepError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise StepError(f"{path}: not a Marian .npz model ({exc})") from None
    return shapes


def embedding_sizes(path: str):
    """(source vocab rows, target vocab rows) of a Marian transformer/s2s model's embeddings."""
    shapes = npz_shapes(path)
    joint = shapes.get("Wemb")
    src = shapes.get("encoder_Wemb") or joint
    trg = shapes.get("decoder_Wemb") or joint
    if trg is None and "decoder_ff_logit_out_b" in shapes:
        trg = (shapes["decoder_ff_logit_out_b"][-1],)
    if src is None or trg is None:
        raise StepError(f"{path}: no embedding matrix (Wemb, encoder_Wemb, decoder_Wemb) in the model")
    return int(src[0]), int(trg[0])


def spm_size(path: str) -> int:
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor()
    try:
        processor.Load(path)
    except (OSError, RuntimeError) as exc:
        raise StepError(f"{path}: not a SentencePiece model ({' '.join(str(exc).split())[:200]})") from None
    return processor.GetPieceSize()


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        raise StepError(f"{path}: no such file") from None
    return digest.hexdigest()


def expected_rows(spm_path: str, dim_vocab: Optional[str]) -> int:
    """The embedding rows Marian makes for a SentencePiece vocab under `--dim-vocabs` (0 = all)."""
    size = spm_size(spm_path)
    limit = int(dim_vocab) if dim_vocab and dim_vocab.isdigit() else 0
    return min(size, limit) if limit else size


def check_model_fits_vocab(model: str, vocab_src: str, vocab_trg: str, src: str, trg: str,
                           dim_vocabs: Optional[List[str]] = None) -> None:
    """The model was trained with these vocabs: same content as the vocab shipped beside it, and
    embedding rows equal to the vocab sizes. A mismatch is one line naming both files."""
    directory = os.path.dirname(os.path.abspath(model))
    for given, shipped in ((vocab_src, os.path.join(directory, f"vocab.{src}.spm")),
                           (vocab_trg, os.path.join(directory, f"vocab.{trg}.spm"))):
        if os.path.exists(shipped) and os.path.abspath(shipped) != os.path.abspath(given):
            if sha256(shipped) != sha256(given):
                raise StepError(
                    f"{given}: differs from the vocab {shipped} the model {os.path.basename(model)} was "
                    f"trained with (sha256); train with the model's own vocab"
                )
    dim_vocabs = list(dim_vocabs or [])
    src_rows, trg_rows = embedding_sizes(model)
    for rows, vocab, index, side in ((src_rows, vocab_src, 0, "source"), (trg_rows, vocab_trg, 1, "target")):
        expected = expected_rows(vocab, dim_vocabs[index] if len(dim_vocabs) > index else None)
        if rows != expected:
            raise StepError(
                f"{model}: its {side} embeddings have {rows} rows but {vocab} gives {expected} entries; "
                f"the model was trained with another vocab"
            )


# ------------------------------------------------------------------------------------------------
# Devices and decoding.
def gpu_count() -> int:
    """GPUs listed by nvidia-smi (0 without it): Marian uses them all unless told otherwise."""
    if not shutil.which("nvidia-smi"):
        return 0
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in listing.splitlines() if line.startswith("GPU "))


def with_devices(options: Dict[str, List[str]], prog: str) -> "OrderedDict[str, List[str]]":
    """Every GPU when the options name no devices; on CPU, float16 (GPU-only) becomes float32."""
    options = OrderedDict(options)
    if "cpu-threads" in options or "devices" in options or "d" in options:
        gpus = 0 if "cpu-threads" in options else gpu_count()
    else:
        gpus = gpu_count()
        if gpus:
            options["devices"] = [str(i) for i in range(gpus)]
        else:
            options["cpu-threads"] = [str(os.cpu_count() or 1)]
    if not gpus:
        for name in ("precision", "fp16"):
            if name in options and (name == "fp16" or any("16" in v for v in options[name])):
                print(f"{prog}: note: --{name} {' '.join(options[name])} needs a GPU; decoding in float32 on CPU",
                      file=sys.stderr)
                del options[name]
    return options


DECODE_DEFAULTS = {
    "beam-size": ["4"], "normalize": ["1.0"], "mini-batch": ["16"], "maxi-batch": ["100"],
    "maxi-batch-sort": ["src"], "max-length-factor": ["3"], "max-length-crop": [], "quiet-translation": [],
    "workspace": ["2000"],
}
MARIAN_BEAM_SIZE = "12"  # `pymarian decode`'s own default, when a config removes --beam-size
# Set by the decoding steps from their flags (--nbest is the step's output format).
DECODE_OWNED = {"models", "m", "vocabs", "v", "input", "i", "output", "o", "n-best"}


def decode(models: List[str], vocabs: List[str], input_path: str, output_path: str, work_dir: str,
           options: Dict[str, List[str]], prog: str, nbest: bool = False) -> int:
    """Translate `input_path` (plain/.gz/.zst) into `output_path` (.zst/.gz/plain, published
    atomically) with `pymarian decode`; return the number of input lines."""
    from pipeline.common.io import compress_file, decompress_file

    os.makedirs(work_dir, exist_ok=True)
    plain_in = os.path.join(work_dir, "input.txt")
    plain_out = os.path.join(work_dir, "output.txt")
    owned = sorted(set(options) & DECODE_OWNED)
    if owned:
        raise StepError(f"Marian arguments: --{owned[0]} is set by {prog} from its own flags; remove it")
    for model in models:
        check_decoder_vocabs(model, vocabs)
    lines = decompress_file(input_path, plain_in)
    layers = [DECODE_DEFAULTS]
    if nbest:
        layers.append({"beam-size": ["8"]})
    merged = merge_options(*layers, options)
    if nbest:
        merged["n-best"] = []
    merged = with_devices(merged, prog)
    argv = marian_command("decode") + render_options(merged) + [
        "--models", *models, "--vocabs", *vocabs, "--input", plain_in, "--output", plain_out,
    ]
    if lines:
        run_marian(argv, None, what="Marian decoding")
    else:
        open(plain_out, "w").close()
    produced = 0
    with open(plain_out, "rb") as stream:
        for _ in stream:
            produced += 1
    expected = lines * int((merged.get("beam-size") or [MARIAN_BEAM_SIZE])[0]) if nbest else lines
    if (nbest and produced > expected) or (not nbest and produced != expected):
        raise StepError(f"{output_path}: Marian produced {produced} lines for {lines} input lines of {input_path}")
    if output_path.endswith((".zst", ".gz")):
        compress_file(plain_out, output_path)
    else:
        from pipeline.common.io import publish

        with publish(output_path) as partial:
            shutil.copyfile(plain_out, partial)
    return lines


def model_dim_vocabs(path: str) -> List[int]:
    """The `dim-vocabs` Marian stored in a model's own config (`special:model.yml`), or []."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("special:model.yml.npy") as member:
            text = bytes(np.lib.format.read_array(member, allow_pickle=False)).decode("utf-8", "replace")
        config = yaml.safe_load(text.rstrip("\x00")) or {}
    except (KeyError, OSError, ValueError, zipfile.BadZipFile, yaml.YAMLError):
        return []
    values = config.get("dim-vocabs") if isinstance(config, dict) else None
    return [int(v) for v in values] if isinstance(values, list) and all(isinstance(v, int) for v in values) else []


def check_decoder_vocabs(model: str, vocabs: List[str]) -> None:
    """The model's embedding rows must be what its vocabs give (under the `dim-vocabs` stored in
    the model): another vocab makes Marian's decoder abort or segfault mid-run, so it is refused
    first, naming both files (`.npz` models; a converted `.bin` is checked at its quantization)."""
    if not model.endswith(".npz"):
        return
    limits = model_dim_vocabs(model)
    for index, (rows, vocab, side) in enumerate(zip(embedding_sizes(model), vocabs, ("source", "target"))):
        size = spm_size(vocab)
        limit = limits[index] if len(limits) > index else 0
        expected = min(size, limit) if limit else size
        if rows != expected:
            raise StepError(f"{vocab}: has {size} pieces but the {side} embeddings of {model} have {rows} rows; "
                            f"use the vocab the model was trained with")


def natural_key(text: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def ensemble_members(models_dir: str, model_name: str, src: str, trg: str):
    """(model paths, [vocab src, vocab trg]) of a teacher ensemble fetched as DIR/<member>/NAME.

    Every member must have been trained with the same vocab (an ensemble decodes one vocab).
    """
    if not os.path.isdir(models_dir):
        raise StepError(f"{models_dir}: no such directory")
    members = sorted((d for d in os.listdir(models_dir) if os.path.isfile(os.path.join(models_dir, d, model_name))),
                     key=natural_key)
    if not members and os.path.isfile(os.path.join(models_dir, model_name)):
        members = [""]
    if not members:
        raise StepError(f"{models_dir}: no member directory holds {model_name}")
    vocabs = None
    for member in members:
        directory = os.path.join(models_dir, member)
        pair = [os.path.join(directory, f"vocab.{src}.spm"), os.path.join(directory, f"vocab.{trg}.spm")]
        for path in pair:
            if not os.path.isfile(path):
                raise StepError(f"{path}: no such file (every ensemble member ships its vocab)")
        if vocabs is None:
            vocabs = pair
        else:
            for mine, first in zip(pair, vocabs):
                if sha256(mine) != sha256(first):
                    raise StepError(f"{mine}: differs from {first}; ensemble members must share one vocab")
    return [os.path.join(models_dir, m, model_name) for m in members], vocabs
