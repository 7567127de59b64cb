"""Issue 14's promise: a model variant registered in one place (one catalogue call, no other
file touched) trains through pairwise.py, is saved and loaded as a bundle, tags text, and
appears in report.py beside its baseline."""

from __future__ import annotations

import pytest

from bioner_mtl.experiments import pairwise, report, train
from bioner_mtl.training.cli import run
from bioner_mtl.training.spec.catalogue import MODELS, variant
from tests.experiments.test_pairwise import ONE_ROUND, TINY

NAME = "tiny-cnn"


@pytest.fixture
def tiny_cnn():
    variant(NAME, "window-cnn", "a narrow window CNN: the one entry a new model needs",
            config_options={"filters": 4, "hidden": 8})
    yield NAME
    MODELS.pop(NAME)


def test_a_model_registered_in_one_place_trains_bundles_tags_and_is_reported(
        tiny_cnn, tmp_path, capsys):
    grid = tmp_path / "grid"
    assert run(pairwise.main, ["--main", "NCBI-disease", "--aux", "BC5CDR-disease", "--model",
                               tiny_cnn, "--out", str(grid), *TINY, "--seeds", "2",
                               *ONE_ROUND]) == 0
    table = capsys.readouterr().out
    assert "BC5CDR-disease" in table and "(single-task)" in table

    bundle = tmp_path / "bundle"
    assert run(train.main, ["--main", "NCBI-disease", "--model", tiny_cnn, "--save-model",
                            str(bundle), "--out", str(tmp_path / "train"), *TINY]) == 0
    from bioner_mtl.training.product.bundle import load

    tagger = load(bundle)
    assert tagger.meta["model"] == tiny_cnn
    text = "Mutations in the BRCA1 gene cause breast cancer."
    entities = tagger.tag(text)
    assert all(text[e.start:e.end] == e.text for e in entities)
    tags, confidence = tagger.tag_sentences([["breast", "cancer", "risk"]])["NCBI-disease"]
    assert len(tags[0]) == 3 and len(confidence[0]) == 3

    out = tmp_path / "report.md"
    assert run(report.main, [str(grid), "--out", str(out)]) == 0
    text = out.read_text()
    section = text[text.index("## Pairwise grids"):]
    assert f"NCBI-disease: {tiny_cnn}" in section
    assert f"(single-task {tiny_cnn})" in section  # its baseline: a window-cnn variant alone
    assert "BC5CDR-disease" in section
