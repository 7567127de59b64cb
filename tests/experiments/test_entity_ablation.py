import re
from pathlib import Path

import numpy as np

from bioner_mtl.data import corpora
from bioner_mtl.experiments import entity_ablation
from bioner_mtl.training.cli import run
from bioner_mtl.training.fit.results import ResultsFile


def test_saved_encoder_is_loaded(tmp_path, tiny_run):
    from bioner_mtl.training.fit.trainer import Trainer

    path = str(tmp_path / "enc.weights.h5")
    first = Trainer(tiny_run("BC5CDR-chem", (), "bert", steps=2, save_encoder=path,
                             devel_limit=20, test_limit=20), progress=False)
    first.fit()
    second = Trainer(tiny_run("NCBI-disease", (), "bert", steps=2, init_encoder=path),
                     progress=False)
    for a, b in zip(first.model.backbone.weights, second.model.backbone.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_class_nobody_annotates_is_refused(tmp_path, capsys):
    assert run(entity_ablation.main, ["--corpora", "NCBI-disease,BC2GM", "--leave-out",
                                      "Species", "--out", str(tmp_path)]) == 2
    assert "no corpus of NCBI-disease, BC2GM annotates it" in capsys.readouterr().err


def test_a_corpus_whose_classes_are_unknown_is_refused(tmp_path, capsys):
    """A corpus given as a folder names no classes: it might annotate the class left out
    and leak it into the 'without' encoder."""
    folder = str(Path(corpora.__file__).parent / "corpora" / "NCBI-disease")
    assert run(entity_ablation.main, ["--corpora", f"{folder},BC5CDR-chem", "--leave-out",
                                      "Chemical", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "its entity classes are not known" in err and not (tmp_path / "x").exists()


def test_full_mtl_adds_the_new_task_trained_with_every_kept_corpus(tmp_path, small_bert_dir,
                                                                   capsys):
    """RODRIGUEZ table 6 / figure 6: the left-out corpus fine-tuned from the encoder the kept
    corpora trained, beside the single-task model and beside the full multi-task model (the
    left-out corpus with every kept one), paired."""
    out = tmp_path / "full"
    args = ["--corpora", "NCBI-disease,BC5CDR-chem", "--leave-out", "Disease", "--full-mtl",
            "--fractions", "0.02", "--steps", "2", "--set", f"encoder={small_bert_dir}",
            "--set", "max_length=48", "--set", "devel_limit=20", "--set", "test_limit=20",
            "--train-fraction", "0.02", "--seeds", "1", "--out", str(out), "--no-progress",
            "--schedule", "alternate"]  # 2 partner batches, not the ~84 `random` pairs with 2
    assert run(entity_ablation.main, args) == 0
    records = ResultsFile(out / "results.jsonl").records()
    cells = sorted((r.main, tuple(r.aux), bool(r.config["init_encoder"]), r.role or "")
                   for r in records)
    assert cells == [("BC5CDR-chem", (), False, "mtl"), ("NCBI-disease", (), False, ""),
                     ("NCBI-disease", (), True, ""),
                     ("NCBI-disease", ("BC5CDR-chem",), False, "")]
    # the left-out corpus starts from the encoder the kept corpora trained (Disease left out),
    # named by the run that writes it: another kept set or setting, another file
    encoder = next(r for r in records if r.role == "mtl").config["save_encoder"]
    assert re.search(r"without-Disease-[0-9a-f]{8}\.weights\.h5$", encoder)
    assert sorted(r.config["init_encoder"] or "" for r in records
                  if r.main == "NCBI-disease") == ["", "", encoder]
    assert all(r.train_fraction == 0.02 for r in records if r.main == "NCBI-disease")
    printed = capsys.readouterr().out
    assert "against the full multi-task model" in printed
    assert printed.count("from MTL encoder") >= 2 and "full multi-task" in printed
