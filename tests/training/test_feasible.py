"""What a run needs to mean something: refused (a devel split with no entity to select on) or
said in one warning line (a short scored part of devel, a test split without mentions)."""

from __future__ import annotations

import logging

import pytest

from bioner_mtl.data.errors import InputError
from bioner_mtl.training.spec.feasible import check_entities
from bioner_mtl.training.spec.presets import resolve

MENTIONS = "IL-2\tB-Gene\ngene\tI-Gene\nand\tO\n\nTNF\tB-Gene\nrises\tO\n"
NO_ENTITY = "a\tO\nb\tO\n\nc\tO\n"


def corpus(tmp_path, **splits):
    folder = tmp_path / "mine"
    folder.mkdir()
    for split in ("train", "devel", "test"):
        (folder / f"{split}.tsv").write_text(splits.get(split, MENTIONS))
    return str(folder)


def test_a_devel_split_without_entities_is_refused(tmp_path):
    with pytest.raises(InputError, match="its devel split has no entity"):
        check_entities(resolve(corpus(tmp_path, devel=NO_ENTITY), "window-cnn"))


def test_a_training_share_without_entities_is_refused(tmp_path):
    """The main corpus's --train-fraction cut is what the model learns from: 1 sentence of
    41, and 40 of them hold no entity (seed 3 keeps one of those: checked below)."""
    from bioner_mtl.data.ablation import subsample
    from bioner_mtl.data.corpora import load_corpus

    folder = corpus(tmp_path, train=MENTIONS.split("\n\n")[0] + "\n\n" + "\n".join(
        f"w{i}\tO\n" for i in range(40)))
    train = load_corpus(folder).train
    assert len(train) == 41 and not any("B-" in t for s in subsample(train, 0.02, 3)
                                         for t in s.tags)
    with pytest.raises(InputError, match="hold no entity, so the model has nothing to learn"):
        check_entities(resolve(folder, "window-cnn", run={"train_fraction": 0.02, "seed": 3}))
    check_entities(resolve(folder, "window-cnn", run={"train_fraction": 1.0}))  # whole: fine


@pytest.mark.parametrize("splits, options, said", [
    ({"devel": NO_ENTITY + "\n" + MENTIONS}, {"devel_limit": 1},
     "the first 1 sentences of its devel split"),
    ({"test": NO_ENTITY}, {}, "its test split has no entity"),
])
def test_a_short_scored_part_or_a_test_without_entities_is_a_warning(tmp_path, caplog, splits,
                                                                      options, said):
    run = resolve(corpus(tmp_path, **splits), "window-cnn", run=options)
    with caplog.at_level(logging.WARNING):
        check_entities(run)  # not refused
        check_entities(run)  # a command's check, then its trainer's: said once
    assert len([r for r in caplog.records if said in r.getMessage()]) == 1
