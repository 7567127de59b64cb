"""A damaged bundle stops predict.py with one line naming the file: damaged weights (zeroed
bytes, truncated, missing) by the SHA-256 bundle.json records, a hand-edited bundle.json by the
key it lacks or mistypes; never a traceback, never a model with damaged weights."""

import hashlib
import json
import shutil

import pytest

from bioner_mtl.experiments import predict as predict_cli
from bioner_mtl.training.cli import run
from bioner_mtl.training.fit.trainer import Trainer
from bioner_mtl.training.product.bundle import BUNDLE_FILE, WEIGHTS_FILE, load, save_bundle

MAIN = "NCBI-disease"


@pytest.fixture(scope="session")
def saved(tiny_run, tmp_path_factory):
    """A bundle of a few training steps: enough to load, not to tag well."""
    path = tmp_path_factory.mktemp("bundle") / "model"
    trainer = Trainer(tiny_run(MAIN, steps=2, eval_every=1), progress=False)
    trainer.fit()
    save_bundle(trainer, path)
    return path


@pytest.fixture
def bundle(saved, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(saved, copy)
    return copy


def predict_error(capsys, tmp_path, bundle) -> str:
    text = tmp_path / "notes.txt"
    text.write_text("Mutations in the APC gene cause colon cancer.")
    rc = run(predict_cli.main, ["--model", str(bundle), str(text)])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_saving_records_the_weights_checksum(saved):
    meta = json.loads((saved / BUNDLE_FILE).read_text())
    assert meta["weights_sha256"] == hashlib.sha256((saved / WEIGHTS_FILE).read_bytes()
                                                    ).hexdigest()
    assert load(saved).heads_for(None) == [MAIN]


def zero_middle(path):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = bytes(len(data[middle:middle + 4096]))
    path.write_bytes(bytes(data))


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage", [zero_middle, truncate])
def test_damaged_weights_are_refused(capsys, tmp_path, bundle, damage):
    damage(bundle / WEIGHTS_FILE)
    err = predict_error(capsys, tmp_path, bundle)
    assert f"{bundle / WEIGHTS_FILE}: its SHA-256 differs from the one bundle.json" in err


def test_missing_weights_are_named(capsys, tmp_path, bundle):
    (bundle / WEIGHTS_FILE).unlink()
    assert f"{bundle / WEIGHTS_FILE}: missing" in predict_error(capsys, tmp_path, bundle)


def test_a_bundle_saved_before_checksums_still_loads(bundle):
    meta = json.loads((bundle / BUNDLE_FILE).read_text())
    del meta["weights_sha256"]
    (bundle / BUNDLE_FILE).write_text(json.dumps(meta))
    assert load(bundle).heads_for(None) == [MAIN]


def edit(change):
    def apply(meta):
        change(meta)
        return meta
    return apply


@pytest.mark.parametrize(("damage", "needle"), [
    (lambda meta: [meta], "a JSON list where a bundle description (an object) belongs"),
    (edit(lambda m: m.pop("heads")), "'heads' is missing"),
    (edit(lambda m: m.pop("model_config")), "'model_config' is missing"),
    (edit(lambda m: m.pop("featurizer_state")), "'featurizer_state' is missing"),
    (edit(lambda m: m.update(viterbi="yes")), "'viterbi' should be true or false"),
    (edit(lambda m: m.update(main=3)), "'main' should be a string"),
    (edit(lambda m: m.update(heads=[])), "'heads' should be an object"),
    (edit(lambda m: m.update(heads={})), "'heads' is empty"),
    (edit(lambda m: m.update(main="BC2GM")), "'main' names 'BC2GM', which is not one of"),
    (edit(lambda m: m.update(featurizer="chars")), "'featurizer' should be words or subwords"),
    (edit(lambda m: m.update(weights_sha256=7)), "'weights_sha256' should be a string"),
    (edit(lambda m: m["heads"][MAIN].pop("transitions")),
     f"heads.{MAIN}.transitions is missing"),
    (edit(lambda m: m["heads"][MAIN].update(labels="O")),
     f"heads.{MAIN}.labels should be a list"),
    (edit(lambda m: m["heads"][MAIN]["transitions"].update(pairs=[[1]])), "does not describe"),
    (edit(lambda m: m["featurizer_state"].pop("words")), "does not describe a model"),
    (edit(lambda m: m["model_config"].update(dropout=1.5)),
     "model_config: dropout=1.5: the drop rate must be in [0, 1)"),
    (edit(lambda m: m.update(model="cnn3")), "unknown model 'cnn3'"),
])
def test_a_damaged_description_is_refused_with_the_key(capsys, tmp_path, bundle, damage,
                                                       needle):
    path = bundle / BUNDLE_FILE
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    err = predict_error(capsys, tmp_path, bundle)
    assert needle in err, err


def test_a_bundle_older_than_an_option_rebuilds_the_model_it_holds():
    from bioner_mtl.training.product.bundle import OLD_DEFAULTS, stored_config
    from bioner_mtl.training.spec.catalogue import get_model

    default = get_model("bert-tong").config
    assert OLD_DEFAULTS == {"aux_projection": 0}
    # saved before TONG's projection existed: its auxiliary heads were one linear layer
    assert stored_config(default, {"dropout": 0.2}).aux_projection == 0
    assert stored_config(default, {"dropout": 0.2}).dropout == 0.2
    # saved since: the bundle's own value, None (the encoder's width) included
    assert stored_config(default, {"aux_projection": None}).aux_projection is None
    assert stored_config(default, {"aux_projection": 64}).aux_projection == 64
    # lists come back as the tuples the dataclasses hold; unknown keys are left out
    assert stored_config(get_model("window-cnn").config,
                         {"filter_widths": [3], "gone": 1}).filter_widths == (3,)
