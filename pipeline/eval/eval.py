"""Evaluate a model on a test set: decode it, score BLEU and chrF with sacrebleu.

Inputs: --dataset-prefix P with --src/--trg (P.{src}.zst is translated, P.{trg}.zst is the
reference); the model as --model FILE with --vocab-src/--vocab-trg, or a teacher ensemble as
--models-dir DIR --model-name NAME (every DIR/<member>/NAME, with the vocab each member ships).
Marian options after `--` override the decoding defaults.

Artifacts (--output-dir), with D the file name of P:
  D.metrics.json             {"bleu": …, "chrf": …, "signatures": {…}, "lines": N, "models": […]}
  D.{trg}.translations.zst   the translations, one per source line
BLEU and chrF are sacrebleu's corpus scores, computed from statistics summed while streaming.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from pipeline.common import marian
from pipeline.common.io import StepError, publish, read_parallel, run
from pipeline.translate.translate import add_model_args, resolve_models, split_marian_args


def score(hypotheses_path, references_path, batch_lines=1000):
    """sacrebleu's corpus BLEU and chrF, streamed: the per-sentence statistics sacrebleu sums for
    a corpus score are summed batch by batch, so the files are never held in memory."""
    from sacrebleu.metrics import BLEU, CHRF

    metrics = {"bleu": BLEU(), "chrf": CHRF()}
    totals = {name: None for name in metrics}
    count = 0
    batch = []

    def flush():
        hypotheses, references = [h for h, _r in batch], [r for _h, r in batch]
        for name, metric in metrics.items():
            stats = metric._extract_corpus_statistics(hypotheses, [references])
            for sentence in stats:
                totals[name] = list(sentence) if totals[name] is None else [a + b for a, b in zip(totals[name], sentence)]
        batch.clear()

    for pair in read_parallel(hypotheses_path, references_path):
        batch.append(pair)
        count += 1
        if len(batch) == batch_lines:
            flush()
    if batch:
        flush()
    if not count:
        raise StepError(f"{references_path}: the test set is empty")
    scores = {name: metric._compute_score_from_stats(totals[name]) for name, metric in metrics.items()}
    return {
        "bleu": round(scores["bleu"].score, 4),
        "chrf": round(scores["chrf"].score, 4),
        "signatures": {name: str(metric.get_signature()) for name, metric in metrics.items()},
        "lines": count,
    }


def evaluate(prog, args, models, vocabs, marian_options):
    """Decode, score and publish; the shared body of eval.py and eval_quantized.py."""
    dataset = os.path.basename(args.dataset_prefix)
    source = f"{args.dataset_prefix}.{args.src}.zst"
    reference = f"{args.dataset_prefix}.{args.trg}.zst"
    for path in (source, reference):
        if not os.path.isfile(path):
            raise StepError(f"{path}: no such file")
    os.makedirs(args.output_dir, exist_ok=True)
    translations = os.path.join(args.output_dir, f"{dataset}.{args.trg}.translations.zst")
    with tempfile.TemporaryDirectory(prefix="eval-") as work:
        marian.decode(models, vocabs, source, translations, work, marian_options, prog)
    metrics = score(translations, reference)
    metrics.update({"dataset": dataset, "src": args.src, "trg": args.trg,
                    "models": [os.path.basename(m) for m in models]})
    with publish(os.path.join(args.output_dir, f"{dataset}.metrics.json")) as partial:
        with open(partial, "w", encoding="utf-8") as stream:
            json.dump(metrics, stream, indent=2, sort_keys=True)
            stream.write("\n")
    print(f"{prog}: {dataset} {args.src}-{args.trg}: BLEU {metrics['bleu']:.2f} chrF {metrics['chrf']:.2f}",
          file=sys.stderr)
    return metrics


def main(argv=None):
    argv, marian_args = split_marian_args(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset-prefix", required=True)
    add_model_args(parser)
    parser.add_argument("--output-dir", required=True)
    args = parser.parse_args(argv)
    if not (args.src and args.trg):
        parser.error("--src and --trg are required")
    models, vocabs = resolve_models(args, parser)
    evaluate("eval.py", args, models, vocabs, marian.parse_options(marian_args))
    return 0


if __name__ == "__main__":
    run(main)
