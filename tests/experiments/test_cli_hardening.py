"""Hostile input to train.py, pairwise.py and predict.py: one `error: ` line naming the value
and the fix, exit code 2, before anything trains; never a traceback, never a 0 read as 'not
set'; and a results directory keeps to the command that wrote it."""

from pathlib import Path

import pytest

from bioner_mtl.experiments import pairwise
from bioner_mtl.experiments import train as train_cli
from bioner_mtl.training.cli import run
from bioner_mtl.training.fit.results import ResultsFile
from bioner_mtl.training.grids import executors, grid
from tests.experiments.test_pairwise import TINY
from tests.helpers import make_record

MAIN = "NCBI-disease"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_training(monkeypatch):
    """Every case must stop before a cell trains."""
    def refuse(*args, **kwargs):
        raise AssertionError("a cell started training: the argument was not checked first")

    monkeypatch.setattr(executors, "train_run", refuse)


def one_error_line(capsys, rc: int, needle: str) -> str:
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert needle in err, err
    return err


TRAIN_CASES = [
    # tracebacks before
    (["--steps", "-5"], "--steps -5: training steps must be a whole number of at least 1"),
    (["--set", "train.batch_size=0"], "--set train.batch_size=0: sentences per batch"),
    (["--aux", "BC5CDR,Linnaeus", "--model", "cross-sharing"],
     "cross-sharing gates exactly two corpora, the main one and one auxiliary, but got 2"),
    (["--model", "bert", "--set", "max_length=1"], "max_length=1: a whole number of at least 3"),
    (["--main", "GENIA-POS"], "GENIA-POS is a part-of-speech corpus, not an NER corpus"),
    (["--aux", "GENIA-POS"], "GENIA-POS is a part-of-speech corpus"),
    (["--seed", "-1"], "--seed -1 --seeds 1: the seeds run from --seed to --seed + --seeds"),
    (["--seed", str(2 ** 32 - 1), "--seeds", "2"], "must lie in 0 .. 2**32 - 1"),
    (["--epochs", "nan"], "--epochs nan: epochs of the main corpus must be above 0"),
    (["--set", "dropout=1.5"], "--set dropout=1.5: the drop rate must be in [0, 1)"),
    (["--set", "hidden=0"], "--set hidden=0: a whole number of at least 1"),
    (["--set", "window=6"], "--set window=6: an odd number of words"),
    (["--set", "filter_widths=3,9"], "filter widths cannot exceed the window of 7"),
    (["--set", "tag_scheme=BIO"], "--tag-scheme BIO: choose one of IOB2, IOBES"),
    (["--model", "bilstm-crf", "--set", "sharing=foo"], "--set sharing=foo: choose one of"),
    (["--model", "bilstm-crf", "--set", "projection_activation=foo"],
     "projection_activation=foo: not a Keras activation"),
    (["--model", "bert", "--set", "label_on=every", "--set", "crf=true"],
     "label_on=every trains every subword"),
    (["--set", "devel_limit=abc"], "--set devel_limit=abc: score the first N sentences"),
    (["--set", "train.epochs=none"], "--set train.epochs=none: 'none' is not a valid float"),
    # silently wrong before: 0 read as 'not set', a negative slice, a value ignored
    (["--steps", "0"], "--steps 0: training steps must be a whole number of at least 1"),
    (["--epochs", "0"], "--epochs 0.0: epochs of the main corpus must be above 0"),
    (["--epochs", "-2"], "--epochs -2.0: epochs of the main corpus must be above 0"),
    (["--steps", "5", "--epochs", "2"], "give one training length, not both"),
    (["--set", "devel_limit=0"], "--set devel_limit=0: score the first N sentences"),
    (["--set", "devel_limit=-1"], "--set devel_limit=-1: score the first N sentences"),
    (["--set", "test_limit=0"], "--set test_limit=0"),
    (["--set", "train.learning_rate=-1"], "--set train.learning_rate=-1.0: the learning rate"),
    (["--set", "train.patience=-1"], "--set train.patience=-1: evaluations without a devel"),
    (["--set", "train.eval_every=0", "--set", "train.patience=4"],
     "--set train.patience=4: early stopping needs devel evaluations"),
    (["--set", "train.eval_every=-3"], "--set train.eval_every=-3"),
    (["--set", "train.lr_decay=2"], "--set train.lr_decay=2.0: the per-epoch decay"),
    (["--set", "train.clipnorm=0"], "--set train.clipnorm=0: the gradient norm cap"),
    (["--set", "train.warmup=-1"], "--set train.warmup=-1.0: the warm-up share"),
    (["--set", "train.steps=1.5"], "--steps 1.5: training steps must be a whole number"),
    (["--set", "vector_dim=0"], "--set vector_dim=0: a whole number of at least 1"),
    (["--set", "vector_epochs=0"], "--set vector_epochs=0"),
    (["--set", "vector_corpora=mine"], "--set vector_corpora=mine: choose one of bundled, run"),
    (["--gpus", "0"], "--gpus 0: data-parallel replicas: at least 1"),
    (["--set", "seed=3"], "--set seed: set it with --seed/--seeds, not --set"),
    (["--set", "model=bert"], "--set model: set it with --model, not --set"),
    (["--set", "loss_weights=3"], "--set loss_weights: set it with --aux-weight"),
    (["--aux", "BC5CDR", "--aux-weight", "-1"], "loss weight -1.0 for BC5CDR (--aux-weight)"),
    (["--seeds", "0"], "--seeds 0: need at least one seed"),
    (["--workers", "0"], "--workers 0: need at least one worker"),
    (["--train-fraction", "1.5"], "--train-fraction 1.5: the share of the main corpus"),
    (["--model", "runs/bio3"], "unknown model 'runs/bio3'; valid models"),
]


def with_main(args: list[str]) -> list[str]:
    return args if "--main" in args else ["--main", MAIN, *args]


@pytest.mark.parametrize(("args", "needle"), TRAIN_CASES)
def test_train_refuses_bad_values_before_training(no_training, capsys, tmp_path, args, needle):
    rc = run(train_cli.main, [*with_main(args), "--out", str(tmp_path / "out"), "--no-progress"])
    one_error_line(capsys, rc, needle)


@pytest.mark.parametrize(("args", "needle"), [
    (["--steps", "0"], "--steps 0: training steps"),
    (["--set", "train.batch_size=0"], "--set train.batch_size=0"),
    (["--set", "devel_limit=0"], "--set devel_limit=0"),
    (["--main", "GENIA-POS"], "GENIA-POS is a part-of-speech corpus"),
    (["--aux", "GENIA-POS"], "GENIA-POS is a part-of-speech corpus"),
    (["--seeds", "-2"], "--seeds -2: need at least one seed"),
    (["--workers", "-3", "--executor", "pool"], "--workers -3: need at least one worker"),
    (["--aux-weight", "nan"], "loss weight nan for BC5CDR"),
    (["--set", "train.eval_every=-1"], "--set train.eval_every=-1"),
    (["--set", "train.eval_every=0", "--set", "train.patience=3"],
     "--set train.patience=3: early stopping needs devel evaluations"),
])
def test_pairwise_refuses_bad_values_before_training(no_training, capsys, tmp_path, args,
                                                     needle):
    args = with_main(args)
    if "--aux" not in args:
        args += ["--aux", "BC5CDR"]
    rc = run(pairwise.main, [*args, "--out", str(tmp_path / "out"), "--no-progress"])
    one_error_line(capsys, rc, needle)


def test_out_and_save_model_that_are_files(no_training, capsys, tmp_path):
    file = tmp_path / "a-file"
    file.write_text("")
    for tool, args in ((train_cli, ["--out", str(file)]), (pairwise, ["--out", str(file)]),
                       (train_cli, ["--save-model", str(file), "--out", str(tmp_path / "o")])):
        rc = run(tool.main, ["--main", MAIN, *args, "--no-progress"])
        one_error_line(capsys, rc, f"{file}: a file, not a directory")
    assert file.read_text() == ""


def test_train_honours_aux_weight(monkeypatch, tmp_path):
    """--aux-weight was accepted by train.py and silently ignored."""
    seen = []
    monkeypatch.setattr(grid, "run_cells", lambda runs, *a, **k: seen.extend(runs) or [])
    args = ["--main", MAIN, "--aux", "BC5CDR,Linnaeus", "--out", str(tmp_path / "o")]
    assert run(train_cli.main, [*args, "--aux-weight", "0.5"]) == 0
    assert seen[0].loss_weights == {"BC5CDR": 0.5, "Linnaeus": 0.5}
    seen.clear()
    assert run(train_cli.main, [*args, "--aux-weight", "0"]) == 0  # 0 means 0, not 'not set'
    assert seen[0].loss_weights == {"BC5CDR": 0.0, "Linnaeus": 0.0}


def write_records(directory, *records) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "results.jsonl").open("w") as handle:
        for record in records:
            handle.write(make_record(**{"cell": "c", **record}).to_json() + "\n")


@pytest.mark.parametrize(("record", "writer"), [
    ({"command": "pairwise"}, "pairwise"),
    ({"command": "ablation"}, "ablation"),
])
def test_resume_into_another_commands_directory_is_refused(no_training, capsys, tmp_path,
                                                           record, writer):
    write_records(tmp_path / "grid", record)
    rc = run(train_cli.main, ["--main", MAIN, "--resume", "--out", str(tmp_path / "grid"),
                              "--no-progress"])
    one_error_line(capsys, rc, f"holds results of experiments/{writer}.py; "
                               "experiments/train.py --resume would mix its runs into them")


def test_records_name_their_command_and_only_it_resumes(tmp_path, capsys):
    out = tmp_path / "train"
    args = ["--main", "Ex-PTM", "--out", str(out), *TINY]
    assert run(train_cli.main, args) == 0
    records = ResultsFile(out / "results.jsonl").records()
    assert [r.command for r in records] == ["train"]
    capsys.readouterr()
    rc = run(pairwise.main, ["--main", "Ex-PTM", "--aux", "BC5CDR", "--resume", *args[2:]])
    one_error_line(capsys, rc, "holds results of experiments/train.py; experiments/pairwise.py")
    assert run(train_cli.main, [*args, "--resume"]) == 0  # its own command resumes (no retrain)
    assert len((out / "results.jsonl").read_text().splitlines()) == 1


def test_aux_all_leaves_out_the_main_corpus_given_by_its_folder(monkeypatch, tmp_path):
    """--aux all compared names with !=: a main corpus given by its folder was its own
    partner, and the run was refused. Corpora are compared resolved, as partners_for does."""
    from bioner_mtl.data.corpora import bundled_ner_corpora

    seen = []
    monkeypatch.setattr(grid, "run_cells", lambda runs, *a, **k: seen.extend(runs) or [])
    folder = str(ROOT / "data" / "corpora" / MAIN)
    assert run(train_cli.main, ["--main", folder, "--aux", "all",
                                "--out", str(tmp_path / "o")]) == 0
    assert list(seen[0].aux) == [c for c in bundled_ner_corpora() if c != MAIN]


@pytest.mark.parametrize("where", ["same", "bundle inside", "run inside"])
def test_save_model_and_out_must_be_apart(no_training, capsys, tmp_path, where):
    """A bundle is swapped in whole: over the run directory it deleted the run's lock and
    took its results.jsonl inside the bundle. Refused before anything trains or is made."""
    out, bundle = {"same": (tmp_path / "r", tmp_path / "r"),
                   "bundle inside": (tmp_path / "r", tmp_path / "r" / "model"),
                   "run inside": (tmp_path / "b" / "r", tmp_path / "b")}[where]
    rc = run(train_cli.main, ["--main", MAIN, "--out", str(out), "--save-model", str(bundle),
                              "--no-progress"])
    err = one_error_line(capsys, rc, f"--save-model {bundle} ")
    assert f"the run directory --out {out}: " in err and "-model" in err
    assert not any(tmp_path.iterdir())  # nothing made


def test_train_resume_with_another_model_is_refused(monkeypatch, capsys, tmp_path):
    """train.py --resume, like pairwise.py's, continues the run its directory holds: more
    seeds are that run, another model's cells beside it are not."""
    from bioner_mtl.training.spec.presets import resolve

    seen = []
    monkeypatch.setattr(grid, "run_cells", lambda runs, *a, **k: seen.extend(runs) or [])
    write_records(tmp_path / "r", {"command": "train", "model": "mlp",
                                   "config": resolve(MAIN, "mlp").to_dict()})
    args = ["--main", MAIN, "--out", str(tmp_path / "r"), "--resume", "--no-progress"]
    one_error_line(capsys, run(train_cli.main, args),
                   f"--out {tmp_path / 'r'} holds a grid of mlp with other settings than this "
                   "command's (model mlp there, results.jsonl line 1; window-cnn here)")
    assert seen == []
    assert run(train_cli.main, [*args, "--model", "mlp", "--seeds", "3"]) == 0
    assert [r.seed for r in seen] == [1, 2, 3]


def test_a_script_whose_extra_is_missing_is_one_line_with_its_pip_command(tmp_path,
                                                                          monkeypatch, capsys):
    """The console command imports a script inside run(): a library of an extra that is not
    installed is one line naming the extra, not a traceback; any other missing module is a
    bug and keeps its traceback."""
    import sys

    from bioner_mtl.training.cli import command_main

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "torch":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    (tmp_path / "needs_torch_here.py").write_text("import torch\n\n\ndef main(argv):\n"
                                                  "    return 0\n")
    (tmp_path / "needs_a_typo_here.py").write_text("import numpyy\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", [Refuse(), *sys.meta_path])
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    one_error_line(capsys, run(command_main("needs_torch_here"), []),
                   "needs-torch-here needs torch, which is not installed: pip install "
                   "'bioner-mtl[bench]'")
    with pytest.raises(ModuleNotFoundError, match="numpyy"):
        run(command_main("needs_a_typo_here"), [])
