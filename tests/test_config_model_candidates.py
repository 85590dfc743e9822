"""A model download finds the best model under the names real model directories hold.

Runs over the years wrote the best model as `final.model.npz.best-{metric}.npz`,
`model.npz.best-{metric}.npz` or left only `model.npz`. The graph gives the download every
candidate in that order (`download.py --file-candidates`); the download publishes the first that
exists under the declared name. Checked on the graph, and by running download.py against a
loopback HTTP server holding directories of each shape.
"""

import json

import pytest

from pipeline.continuation import download
from translations_taskgraph.continuation import BEST_MODEL_CANDIDATES

from conftest import command, generate, plan
from loopback_http import make_npz, make_spm, no_proxy, server  # noqa: F401 (fixtures)

URL = "https://example.com/ru-en/teacher"
BEST = "final.model.npz.best-chrf.npz"


def _candidates(argv):
    i = argv.index("--file-candidates")
    end = next((j for j in range(i + 2, len(argv)) if argv[j].startswith("--")), len(argv))
    return argv[i + 1], argv[i + 2 : end]


@pytest.mark.parametrize("mode", ["use", "init", "continue"])
def test_the_graph_gives_every_candidate_name_in_order(mode):
    config = {"continuation": {"models": {"teacher": {"url": URL, "mode": mode}}}}
    argv = command(generate(config), "continuation-model-teacher-ru-en-1")
    name, urls = _candidates(argv)
    assert name == BEST
    assert urls == [f"{URL}/final.model.npz.best-chrf.npz", f"{URL}/model.npz.best-chrf.npz",
                    f"{URL}/final.model.npz", f"{URL}/model.npz"]
    assert BEST_MODEL_CANDIDATES[0] == "final.model.npz.best-{best_model}.npz"
    assert BEST in plan(config).tasks["continuation-model-teacher-ru-en-1"].artifacts  # published as declared
    if mode == "continue":
        # Marian's own checkpoint files keep their one name.
        assert argv[argv.index("--file", 0) + 1 : argv.index("--file", 0) + 3] == ["model.npz", f"{URL}/model.npz"]


def test_the_candidates_follow_best_model():
    config = {"experiment": {"best-model": "bleu-detok"},
              "continuation": {"models": {"backwards": {"url": URL, "mode": "use"}}}}
    name, urls = _candidates(command(generate(config), "continuation-model-backwards-ru-en"))
    assert name == "final.model.npz.best-bleu-detok.npz"
    assert urls[:2] == [f"{URL}/final.model.npz.best-bleu-detok.npz", f"{URL}/model.npz.best-bleu-detok.npz"]


def test_explain_lists_the_candidates(tmp_path, capsys):
    import yaml

    from translations_taskgraph import cli

    from conftest import TASKCLUSTER_DIR

    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump({"continuation": {"models": {"backwards": {"url": URL, "mode": "use"}}}}))
    assert cli.main(["--root", str(TASKCLUSTER_DIR), "explain", str(path)]) == 0
    assert (f"{BEST} <- {URL}/final.model.npz.best-chrf.npz, else {URL}/model.npz.best-chrf.npz, "
            f"else {URL}/final.model.npz, else {URL}/model.npz") in capsys.readouterr().out




def _download(server, directory, out, capsys):
    """download.py with the arguments the graph gives a model download in `use` mode."""
    base = server.url("files", directory)
    graph_argv = command(generate({"continuation": {"models": {"backwards": {"url": "https://example.com/m",
                                                                             "mode": "use"}}}}),
                         "continuation-model-backwards-ru-en")
    extra = graph_argv[graph_argv.index("--file-candidates"):]
    argv = [arg.replace("https://example.com/m", base) for arg in extra]
    code = download.main(["--output-dir", str(out), "--allow-private-urls", "--retries", "0", "--retry-wait", "0",
                          "--timeout", "20", *argv])
    return code, capsys.readouterr()


@pytest.mark.parametrize(
    "served, used",
    [
        (["final.model.npz.best-chrf.npz", "model.npz.best-chrf.npz", "model.npz"], "final.model.npz.best-chrf.npz"),
        (["model.npz.best-chrf.npz", "model.npz"], "model.npz.best-chrf.npz"),
        (["final.model.npz"], "final.model.npz"),
        (["model.npz"], "model.npz"),
    ],
    ids=["final-best", "marian-best", "final", "last-checkpoint"],
)
def test_the_download_publishes_the_first_name_the_directory_holds(server, tmp_path, capsys, served, used):
    directory = f"shape-{used}"
    contents = {}
    for index, name in enumerate(served):
        contents[name] = make_npz(arrays=(f"w{index}",))
        server.put(f"{directory}/{name}", contents[name])
    server.put(f"{directory}/vocab.spm", make_spm())
    out = tmp_path / "out"
    code, captured = _download(server, directory, out, capsys)
    assert code == 0, captured.err
    assert (out / BEST).read_bytes() == contents[used]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest[BEST]["url"].endswith(f"/{directory}/{used}")
    assert sorted(p.name for p in out.iterdir()) == sorted([BEST, "manifest.json", "vocab.ru.spm", "vocab.en.spm"])


def test_a_directory_with_no_model_is_one_error_naming_every_name_tried(server, tmp_path, capsys):
    server.put("empty-model/vocab.spm", make_spm())
    out = tmp_path / "out"
    code, captured = _download(server, "empty-model", out, capsys)
    assert code == 1
    (line,) = captured.err.splitlines()
    assert line.startswith(f"download.py: error: no file for {BEST} (HTTP 404 for each of ")
    for name in ("final.model.npz.best-chrf.npz", "model.npz.best-chrf.npz", "final.model.npz", "model.npz"):
        assert f"/empty-model/{name}" in line
    assert not out.exists() or not [p for p in out.iterdir()]  # nothing published
