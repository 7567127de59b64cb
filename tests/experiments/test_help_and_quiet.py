"""The command line shows the catalogue (every training command's --help lists the registered
models and the presets) and starts TensorFlow without its start-up lines unless --verbose."""

import dataclasses
import importlib
import logging
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from bioner_mtl.training import quiet_tensorflow
from bioner_mtl.training.grids import executors
from bioner_mtl.training.spec.catalogue import MODELS
from bioner_mtl.training.spec.presets import PRESETS

ROOT = Path(__file__).resolve().parents[2]
TRAINING_COMMANDS = ["train", "pairwise", "ablation", "groups", "adversarial",
                     "entity_ablation", "cell_time"]  # the commands with add_run_arguments
# the model each command trains when --model is left out (its --help must say that one)
DEFAULT_MODELS = {"adversarial": "adversarial", "entity_ablation": "bert"}
NOISE = ("absl::InitializeLog", "oneDNN", "cudart", "cuda_platform", "cpu_feature_guard")


def help_text(command: str, capsys) -> str:
    module = importlib.import_module(f"bioner_mtl.experiments.{command}")
    with pytest.raises(SystemExit) as stop:
        module.main(["--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", TRAINING_COMMANDS)
def test_help_lists_every_model_and_preset(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    lines = help_text(command, capsys).splitlines()
    default = DEFAULT_MODELS.get(command, "window-cnn")
    models = lines.index(f"models (--model NAME, default {default}):")
    flag = " ".join(lines[next(i for i, line in enumerate(lines)
                               if line.lstrip().startswith("--model NAME ")):][:2])
    assert f"(default {default};" in " ".join(flag.split())
    presets = lines.index("presets (--preset NAME, default quick):")
    # one entry per model, in catalogue order, each starting on its own line with its summary
    starts = [line.split()[0] for line in lines[models + 1:presets] if line.startswith("  ")
              and not line.startswith("   ")]
    assert starts == list(MODELS)
    for name, spec in MODELS.items():
        first = next(line for line in lines[models + 1:] if line.startswith(f"  {name} "))
        assert spec.summary.split()[0] in first
    assert all(len(line) <= 100 for line in lines[models:])  # wrapped to the terminal
    assert [line.split()[0] for line in lines[presets + 1:] if line.startswith("  ")
            and not line.startswith("   ")] == list(PRESETS)
    assert any("--verbose" in line for line in lines)


def test_a_model_registered_later_is_in_the_help(capsys, monkeypatch):
    spec = dataclasses.replace(MODELS["window-cnn"], summary="a tiny window CNN, for this test")
    monkeypatch.setitem(MODELS, "tiny-cnn-help", spec)
    text = help_text("train", capsys)
    assert "tiny-cnn-help" in text and "a tiny window CNN, for this test" in text


def test_silenced_stderr_hides_fd_2_and_restores_it(capfd):
    with quiet_tensorflow.silenced_stderr():
        os.write(2, b"C++ noise\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
    with pytest.raises(ImportError), quiet_tensorflow.silenced_stderr():
        os.write(2, b"why it failed\n")
        raise ImportError("no TensorFlow")
    os.write(2, b"after failure\n")
    assert capfd.readouterr().err == "why it failed\nafter failure\n"  # a failure shows it


def subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", quiet_tensorflow.VERBOSE_ENV)}
    return {**env, "BIONER_EXECUTOR": "inprocess"}


# A command whose mistake surfaces after TensorFlow is loaded (the scripts check their
# arguments before it loads, so a bad flag no longer starts it): through training.cli.run, as
# every script; `--verbose` on its command line
TF_THEN_ERROR = ("import sys\n"
                 "from bioner_mtl.data.errors import InputError\n"
                 "from bioner_mtl.training.cli import run\n"
                 "def main(argv):\n"
                 "    import tensorflow\n"
                 "    raise InputError(\"unknown corpus 'No-Such-Corpus'\")\n"
                 "sys.exit(run(main))\n")


def train_script(out: Path, *args: str) -> subprocess.CompletedProcess:
    """A command as a user runs it: it loads TensorFlow, then refuses the corpus."""
    return subprocess.run([sys.executable, "-c", TF_THEN_ERROR, *args], cwd=ROOT,
                          env=subprocess_env(), capture_output=True, text=True, timeout=300)


def test_a_command_starts_tensorflow_quietly_and_verbose_keeps_the_lines(tmp_path):
    quiet = train_script(tmp_path / "quiet")
    assert quiet.returncode == 2
    # TensorFlow was loaded, yet stderr holds only the one-line error: no start-up lines,
    # and stderr works again after the import
    [line] = quiet.stderr.splitlines()
    assert line.startswith("error: unknown corpus 'No-Such-Corpus'")
    loud = train_script(tmp_path / "loud", "--verbose")
    assert loud.returncode == 2 and loud.stderr.splitlines()[-1].startswith("error: ")
    if not any(word in loud.stderr for word in NOISE):
        plain = subprocess.run([sys.executable, "-c", "import tensorflow"], env=subprocess_env(),
                               capture_output=True, text=True, timeout=300)
        assert not any(word in plain.stderr for word in NOISE), "--verbose hid the lines"
        pytest.skip("TensorFlow prints no start-up lines on this machine")


def tensorflow_loaded() -> bool:
    return "tensorflow" in sys.modules


def test_a_pool_worker_starts_tensorflow_quietly(capfd):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=executors._init_worker,
                             initargs=(context.Value("i", 0), [], False, logging.WARNING,
                                       os.getpid(), 1, False)) as pool:  # threads=1: imports TF
        assert pool.submit(tensorflow_loaded).result(timeout=300)
    err = capfd.readouterr().err
    assert not any(word in err for word in NOISE), err


def test_the_quick_preset_help_says_how_each_model_trains(capsys, monkeypatch):
    """The help said every quick run stopped when devel F1 stalled; the window CNNs train a
    fixed 1,600 main-corpus batches. It now says, per model, what the preset resolves to."""
    from bioner_mtl.training.spec.presets import resolve

    monkeypatch.setenv("COLUMNS", "100")
    text = " ".join(help_text("train", capsys).split())
    quick = text.split("presets (--preset NAME, default quick): quick ")[1].split(" paper ")[0]
    said = {}
    for part in quick[quick.index("(") + 1:quick.rindex(")")].split("; "):
        names, _, how = part.partition(": ")
        said.update(dict.fromkeys(names.split(", "), how))
    assert set(said) == set(MODELS)
    for name in MODELS:
        run = resolve("NCBI-disease", name, "quick")
        stops = run.train.eval_every != 0 and run.train.patience is not None
        assert ("stopped when devel F1 stalls" in said[name]) == stops, name
        assert said[name].startswith(f"{100 * run.train_fraction:g}% of the main corpus"), name
        length = run.train.steps or run.train.epochs
        assert f" {length:,g} " in said[name], name
    assert said["window-cnn"].endswith("a fixed 1,600 main-corpus batches, no devel stopping")
