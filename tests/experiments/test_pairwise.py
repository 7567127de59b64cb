import csv
import json
import time
import zlib

import numpy as np
import pytest

from bioner_mtl.experiments import pairwise
from bioner_mtl.training.cli import run
from bioner_mtl.training.fit.results import ResultsFile
from bioner_mtl.training.grids import grid, summary
from bioner_mtl.training.spec import presets
from tests.helpers import make_record, scripted_cells

TINY = ["--steps", "16", "--train-fraction", "0.05", "--set", "filters=4", "--set", "hidden=8",
        "--set", "vector_dim=8", "--set", "vector_corpora=run", "--set", "devel_limit=40",
        "--set", "test_limit=60", "--set", "train.eval_every=8", "--seeds", "1", "--no-progress"]
# pairwise.py only: the first round and no other (the next one never fits a budget of 0.06 s),
# so a test that trains real cells trains exactly --seeds of each
ONE_ROUND = ["--budget", "0.001"]


def pairwise_cli(*args):
    return run(pairwise.main, list(args))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--main", "BC2G"], "unknown corpus 'BC2G'; did you mean 'BC2GM'"),
        (["--main", "Ex-PTM", "--model", "cnn3"], "unknown model 'cnn3'; valid models: mlp"),
        (["--main", "Ex-PTM", "--aux", "Ex-PTM,BC2GM"], "lists the main corpus Ex-PTM as its own"),
        (["--main", "Ex-PTM", "--train-fraction", "0"], "--train-fraction 0.0: the share"),
        (["--main", "Ex-PTM", "--train-fraction", "1.5"], "--train-fraction 1.5: the share"),
        (["--main", "Ex-PTM", "--set", "hiden=3"], "--set hiden: not a setting"),
        (["--main", "Ex-PTM", "--aux-group", "Genes"], "unknown entity class 'Genes'"),
        (["--main", ","], "--main ',' names no corpus"),
        (["--main", "Ex-PTM", "--aux", ","], "--aux ',' names no corpus"),
        (["--main", "Ex-PTM", "--margin", "0"], "--margin 0: the equivalence margin"),
        (["--main", "Ex-PTM", "--margin", "-1"], "--margin -1: the equivalence margin"),
        (["--main", "Ex-PTM", "--margin", "nan"], "--margin nan: the equivalence margin"),
        (["--main", "Ex-PTM", "--budget", "0"], "--budget 0: minutes of training"),
        (["--main", "Ex-PTM", "--budget", "-2"], "--budget -2: minutes of training"),
        (["--main", "Ex-PTM", "--budget", "nan"], "--budget nan: minutes of training"),
        (["--main", "Ex-PTM", "--max-seeds", "1"], "--max-seeds 1: a verdict needs at least 2"),
        (["--main", "Ex-PTM", "--max-seeds", "5000"], "--max-seeds 5000: at most 1000 seeds"),
        (["--main", "Ex-PTM", "--seeds", "5", "--max-seeds", "4"],
         "--max-seeds 4 is below --seeds 5"),
        (["--main", "Ex-PTM", "--aa", "--margin", "0"], "--margin 0: the equivalence margin"),
    ],
)
def test_bad_arguments_stop_with_one_line(capsys, tmp_path, args, message):
    assert pairwise_cli(*args, "--out", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err
    assert "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written


def test_grid_resumes_without_recomputing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "grid"
    args = ["--main", "Ex-PTM", "--aux", "BioNLP13PC,NCBI-disease", "--out", str(out), *TINY,
            *ONE_ROUND]
    from bioner_mtl.training.grids import executors

    calls, kill = [], {"at": 2}
    real_train = executors.train_run

    def counting_train(run_config, progress=True):
        calls.append(run_config.aux)
        if len(calls) == kill["at"]:
            raise KeyboardInterrupt  # killed in the middle of the second cell
        return real_train(run_config, progress)

    monkeypatch.setattr(executors, "train_run", counting_train)
    assert pairwise_cli(*args) == 130
    results = out / "results.jsonl"
    assert len(results.read_text().splitlines()) == 1  # the finished cell survived

    assert pairwise_cli(*args) == 2  # without --resume a used directory is refused
    assert "pass --resume" in capsys.readouterr().err

    calls.clear()
    kill["at"] = None
    assert pairwise_cli(*args, "--resume") == 0
    assert calls == [("BioNLP13PC",), ("NCBI-disease",)]  # the baseline was not retrained
    records = ResultsFile(results).records()
    assert [r.aux for r in records] == [[], ["BioNLP13PC"], ["NCBI-disease"]]
    assert {r.cell for r in records} == {grid.cell_key(r) for r in pairwise.build_runs(
        pairwise.parser().parse_args(args))}

    calls.clear()
    assert pairwise_cli(*args, "--resume") == 0
    assert calls == []  # nothing left to do
    printed = capsys.readouterr().out
    assert "verdict for Ex-PTM: " in printed and "95% CI" in printed
    assert (out / "pairwise.csv").exists() and (out / "gains_Ex-PTM.png").exists()


def grid_records(tmp_path, *args) -> list:
    out = tmp_path / "grid"
    assert pairwise_cli("--main", "Ex-PTM", "--aux", "BioNLP13PC", "--out", str(out),
                        *args, *ONE_ROUND) == 0
    return ResultsFile(out / "results.jsonl").records()


def test_steps_give_every_cell_the_same_main_corpus_batches(tmp_path):
    """--steps counts main-corpus batches: the partner's cell trains 16 of them too, plus
    its partner's (it used to train 16 steps, half of them the partner's)."""
    records = grid_records(tmp_path, *TINY)
    alone, paired = sorted(records, key=lambda r: len(r.aux))
    assert alone.main_batches == paired.main_batches == 16
    assert alone.steps == 16 < paired.steps  # alternate: a partner batch after each main one
    assert alone.main_epochs == paired.main_epochs


def test_epochs_beat_the_preset_s_floor_and_the_record_says_what_was_trained(tmp_path):
    """--epochs 2 under the quick preset trains 2 epochs of the main corpus, not the preset's
    1,600 main batches (about 500 epochs of this slice), in every cell alike."""
    tiny = [a for a in TINY if a not in ("--steps", "16")]
    records = grid_records(tmp_path, *tiny, "--epochs", "2", "--set", "train.patience=none")
    alone, paired = sorted(records, key=lambda r: len(r.aux))
    for r in (alone, paired):
        assert r.config["train"]["epochs"] == 2 and r.config["train"]["min_main_batches"] == 0
        assert r.main_epochs == 2 and r.stopped == "cap"
    assert alone.main_batches == paired.main_batches
    assert presets.resolve("Ex-PTM", "window-cnn", train={"steps": 5}).train.min_main_batches \
        == 0
    assert presets.resolve("Ex-PTM", "window-cnn").train.steps == 1600  # the preset's length
    assert presets.resolve("Ex-PTM", "window-cnn", train={"epochs": 2}).train.steps is None
    kept = presets.resolve("Ex-PTM", "window-cnn", train={"epochs": 2, "min_main_batches": 9})
    assert kept.train.min_main_batches == 9  # given with the length, it stays


def record(main, aux, seed, f1):
    return make_record(main=main, aux=[aux] if aux else [], seed=seed, test_f1=f1,
                       devel_f1=f1, test_token_macro_f1=f1 + 0.1)


def test_summary_paired_gains_and_holm_by_hand():
    records = [record("A", None, s, f) for s, f in [(1, 0.70), (2, 0.72), (3, 0.74)]]
    records += [record("A", "B", s, f) for s, f in [(1, 0.80), (2, 0.81), (3, 0.82)]]
    records += [record("A", "C", s, f) for s, f in [(1, 0.69), (2, 0.73), (3, 0.71)]]
    rows = summary.partner_rows(records)["A"]
    assert [r.partner for r in rows] == [summary.BASELINE, "B", "C"]
    b, c = rows[1].gain, rows[2].gain
    assert rows[1].f1 == pytest.approx((0.81, 0.01))
    # paired by seed: B - baseline = 0.10, 0.09, 0.08: mean 0.09, sd 0.01, se 0.01/sqrt(3),
    # t = 15.588 with 2 df; for 2 df, p = 1 - t / sqrt(t^2 + 2) = 0.00409; t(.975, 2) = 4.3027
    assert b.mean == pytest.approx(0.09)
    assert b.p == pytest.approx(0.00409, abs=2e-5)
    assert (b.low, b.high) == pytest.approx((0.09 - 0.024841, 0.09 + 0.024841), abs=1e-5)
    # C - baseline = -0.01, 0.01, -0.03: mean -0.01, sd 0.02, t = 0.866, p = 0.4778
    assert c.mean == pytest.approx(-0.01) and c.p == pytest.approx(0.4778, abs=2e-4)
    # Holm over two partners: 2 x 0.00409; then max(that, 0.4778)
    assert b.p_holm == pytest.approx(2 * b.p) and b.helps
    assert c.p_holm == pytest.approx(c.p) and not (c.helps or c.hurts)
    assert summary.verdict(rows) == "B helps (+9.00, 95% CI [+6.52, +11.48])"


def test_one_seed_gives_no_verdict_and_the_table_says_so(capsys):
    records = [record("A", None, 1, 0.70), record("A", "B", 1, 0.75)]
    rows = summary.partner_rows(records)["A"]
    assert not rows[1].gain.helps
    pairwise.print_table("A", rows)
    assert "one seed: no verdict" in capsys.readouterr().out


def test_a_corpus_given_by_path_names_files_by_its_display_name(tmp_path):
    from bioner_mtl.data.corpora import spec_for

    corpus = tmp_path / "my" / "corpus"
    corpus.mkdir(parents=True)
    assert pairwise.file_name(str(corpus)) == "corpus" == spec_for(str(corpus)).name


# the BiLSTM family at toy sizes (TINY above is the window CNN's)
BILSTM_TINY = ["--steps", "6", "--train-fraction", "0.05", "--set", "lstm=8",
               "--set", "projection=8", "--set", "char_filters=4", "--set", "char_dim=4",
               "--set", "vector_dim=8", "--set", "vector_corpora=run",
               "--set", "devel_limit=20", "--set", "test_limit=30", "--seeds", "1",
               "--no-progress"]


def test_cross_sharing_grid_compares_with_the_single_task_bilstm(tmp_path):
    """CS-MTM needs a partner: its grid's single-task cell is the BiLSTM-CNN-CRF STM (the
    issue's command: WANG's main x auxiliary grid for CS-MTM, table 4)."""
    args = ["--main", "NCBI-disease", "--aux", "BioNLP09", "--model", "cross-sharing",
            *BILSTM_TINY, *ONE_ROUND, "--out", str(tmp_path)]
    assert pairwise_cli(*args) == 0
    records = ResultsFile(tmp_path / "results.jsonl").records()
    assert sorted((r.model, tuple(r.aux)) for r in records) == [
        ("bilstm-crf", ()), ("cross-sharing", ("BioNLP09",))]
    assert summary.partner_rows(records)["NCBI-disease"][1].gain is not None


@pytest.mark.parametrize(("model", "baseline"), [
    ("cross-sharing", "bilstm-crf"), ("shared-private", "bilstm-crf"),
    ("dependent-cnn", "window-cnn"), ("window-cnn", "window-cnn")])
def test_every_grid_s_single_task_cell_is_the_catalogue_baseline(model, baseline):
    args = pairwise.parser().parse_args(["--main", "NCBI-disease", "--aux", "BioNLP09",
                                         "--model", model, "--aux-weight", "0.5"])
    alone, partnered = pairwise.build_runs(args)[::3]  # three seeds each
    assert (alone.model, alone.aux, alone.loss_weights) == (baseline, (), {})
    assert (partnered.model, partnered.aux) == (model, ("BioNLP09",))
    assert presets.single_task(partnered) == alone
    assert alone.train == partnered.train and alone.seed == partnered.seed


def test_aa_check_compares_the_baseline_with_itself_on_other_seeds(tmp_path, capsys):
    args = ["--main", "Ex-PTM", "--aa", "--out", str(tmp_path), *TINY, *ONE_ROUND]
    args[args.index("--seeds") + 1] = "2"
    assert pairwise_cli(*args) == 0
    records = ResultsFile(tmp_path / "results.jsonl").records()
    assert sorted(r.seed for r in records) == [1, 2, 3, 4]
    assert all(not r.aux for r in records)
    printed = capsys.readouterr().out
    assert "A/A check for Ex-PTM (window-cnn, seeds 1, 3, ... against 2, 4, ..., 2 each): " \
        in printed
    assert "helps" not in printed and "hurts" not in printed


@pytest.mark.parametrize(("f1_of", "said"), [
    (lambda r: 0.6 + 0.01 * noise(r.seed, "aa"), ("equivalent", "undecided")),
    (lambda r: 0.5 + 0.2 * (r.seed % 2) + 0.0001 * noise(r.seed, "aa"), ("false positive",)),
])
def test_aa_check_never_says_helps_or_hurts(tmp_path, capsys, monkeypatch, f1_of, said):
    """The A/A halves are one model: its verdict is equivalent or undecided; even halves
    made to differ (a broken trainer) are called a false positive, never helps or hurts."""
    seen = scripted_cells(monkeypatch, f1_of)
    assert pairwise_cli("--main", "NCBI-disease", "--aa", "--out", str(tmp_path), *QUIET) == 0
    printed = capsys.readouterr().out.split("\nwrote ")[0]  # (the path names this test)
    assert "helps" not in printed and "hurts" not in printed
    assert any(word in printed for word in said), printed
    seeds = sorted(r.seed for r in seen)
    assert seeds == list(range(1, len(seeds) + 1)) and len(seeds) % 2 == 0  # both halves alike


def test_old_results_without_counts_are_refused_for_resume_in_one_line(tmp_path, capsys):
    old = {"main": "Ex-PTM", "aux": [], "seed": 1, "test_f1": 0.5, "devel_f1": 0.5,
           "test_token_macro_f1": 0.6,
           "cell": "0123456789abcdef"}
    (tmp_path / "results.jsonl").write_text(json.dumps(old) + "\n")
    assert pairwise_cli("--main", "Ex-PTM", "--aux", "BioNLP13PC", "--out", str(tmp_path),
                        "--resume", *TINY) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "older bioner-mtl" in err and "\n" not in err
    old = make_record(main="Ex-PTM", seed=1, test_f1=0.5)  # no per-sentence counts
    rows = summary.partner_rows([old, make_record(main="Ex-PTM", aux=["X"], test_f1=0.6)])
    assert rows["Ex-PTM"][1].gain.test_sampling is False  # seed variance only, and said so


def test_plots_carry_the_intervals(tmp_path):
    records = []
    for main in ("A", "B"):
        records += [record(main, None, s, f) for s, f in [(1, 0.70), (2, 0.72), (3, 0.74)]]
        records += [record(main, "C", s, f) for s, f in [(1, 0.80), (2, 0.81), (3, 0.82)]]
    by_main = summary.partner_rows(records)
    written = pairwise.plot(tmp_path, by_main)
    assert [p.name for p in written] == ["gains_A.png", "gains_B.png", "heatmap.png"]
    assert all(p.stat().st_size > 0 for p in written)
    gain = by_main["A"][1].gain
    assert gain.low < gain.mean < gain.high  # what the error bars are drawn from


def test_aux_weight_reaches_every_grid_s_partners():
    from bioner_mtl.training.cli import aux_weights

    args = pairwise.parser().parse_args(["--main", "Ex-PTM", "--aux", "BioNLP13PC",
                                         "--aux-weight", "0.5"])
    assert aux_weights(args, ("A", "B")) == {"A": 0.5, "B": 0.5}
    runs = pairwise.build_runs(args)
    assert {tuple(r.loss_weights.items()) for r in runs if r.aux} == {(("BioNLP13PC", 0.5),)}
    args.aux_weight = 1.0
    assert aux_weights(args, ("A",)) == {}  # the default adds no weights (cell keys unchanged)


@pytest.mark.parametrize(("args", "message"), [
    (["--main", "Ex-PTM,BC2GM", "--aa"], "--aa checks one main corpus at a time"),
    (["--main", "Ex-PTM", "--aa", "--seeds", "0"], "--seeds 0: need at least one seed"),
])
def test_aa_check_bad_arguments_stop_with_one_line(tmp_path, capsys, args, message):
    assert pairwise_cli(*args, "--out", str(tmp_path / "aa")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "aa").exists()  # nothing written


def test_cell_time_bad_arguments_stop_with_one_line(capsys):
    from bioner_mtl.experiments import cell_time

    assert run(cell_time.main, ["--main", "BC2G"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown corpus 'BC2G'") and "\n" not in err


# ----- rounds: more seeds only for the undecided, within a budget ---------------------------
QUIET = ["--no-progress", "--executor", "inprocess"]
ROUNDS = ["--main", "Ex-PTM", "--aux", "BioNLP13PC,NCBI-disease,BC5CDR", "--seeds", "3",
          "--max-seeds", "10", *QUIET]
# BioNLP13PC helps by 5 points (tiny spread); BC5CDR is the baseline within 0.02 point;
# NCBI-disease's 0.5 points are lost in a 2-point spread
GAIN = {"BioNLP13PC": (0.05, 0.0005), "BC5CDR": (0.0, 0.0002), "NCBI-disease": (0.005, 0.02)}


def noise(seed: int, name: str) -> float:
    """A fixed standard normal draw per seed and name (the same on every call)."""
    return float(np.random.default_rng([seed, zlib.crc32(name.encode())]).normal())


def scripted_f1(run) -> float:
    f1 = 0.6 + 0.01 * noise(run.seed, "baseline")
    if run.aux:
        gain, spread = GAIN[run.aux[0]]
        f1 += gain + spread * noise(run.seed, run.aux[0])
    return f1


def seeds_by_partner(records) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for r in records:
        out.setdefault(summary.BASELINE if not r.aux else r.aux[0], []).append(r.seed)
    return {k: sorted(v) for k, v in out.items()}


def test_rounds_give_more_seeds_only_to_undecided_partners(tmp_path, monkeypatch, capsys):
    seen = scripted_cells(monkeypatch, scripted_f1)
    out = tmp_path / "grid"
    assert pairwise_cli(*ROUNDS, "--out", str(out)) == 0
    records = ResultsFile(out / "results.jsonl").records()
    assert len(seen) == len(records) == len({r.cell for r in records})  # each cell once
    seeds = seeds_by_partner(records)
    # decided at the first look (3 seeds): BioNLP13PC helps, BC5CDR equivalent; NCBI-disease
    # goes on to 6 and 10 seeds, and the baseline with it
    assert seeds == {summary.BASELINE: list(range(1, 11)), "BioNLP13PC": [1, 2, 3],
                     "BC5CDR": [1, 2, 3], "NCBI-disease": list(range(1, 11))}
    assert {r.experiment for r in records} == {"sequential looks=3,6,10 margin=1"}
    printed = capsys.readouterr().out
    assert "3 round(s), seeds per partner 3, 10: the undecided reached --max-seeds 10" in printed
    assert "NCBI-disease: undecided after 10 seed(s); about " in printed
    with (out / "pairwise.csv").open() as handle:
        rows = {r["partner"]: r for r in csv.DictReader(handle)}
    assert {p: rows[p]["verdict"] for p in rows} == {
        summary.BASELINE: "", "BioNLP13PC": "helps", "BC5CDR": "equivalent",
        "NCBI-disease": "undecided"}
    assert rows["NCBI-disease"]["seeds"] == "10" and rows["NCBI-disease"]["looks"] == "3,6,10"
    assert int(rows["NCBI-disease"]["seeds_to_decide"]) > 10
    assert rows["BioNLP13PC"]["seeds_to_decide"] == ""
    assert rows[summary.BASELINE]["verdict_line"].startswith("BioNLP13PC helps")
    assert (out / "gains_Ex-PTM.png").stat().st_size > 0
    # the verdicts are what the summary makes of the records, under the plan they name
    by_partner = {r.partner: r for r in summary.partner_rows(records)["Ex-PTM"]}
    assert by_partner["BioNLP13PC"].gain.looks == (3,)
    assert by_partner["NCBI-disease"].gain.verdict == "undecided"


def test_max_seeds_defaults_to_fourteen_or_the_first_round():
    from bioner_mtl.training.cli import check_verdict_arguments

    for seeds, expected in ((3, 14), (20, 20)):
        args = pairwise.parser().parse_args(["--main", "A", "--seeds", str(seeds)])
        assert check_verdict_arguments(args) == pytest.approx(0.01)
        assert args.max_seeds == expected


def test_every_partner_decided_ends_the_rounds(tmp_path, monkeypatch, capsys):
    scripted_cells(monkeypatch, scripted_f1)
    args = ["--main", "Ex-PTM", "--aux", "BioNLP13PC,BC5CDR", "--out", str(tmp_path), *QUIET]
    assert pairwise_cli(*args) == 0
    seeds = seeds_by_partner(ResultsFile(tmp_path / "results.jsonl").records())
    assert set(map(len, seeds.values())) == {3}
    assert "1 round(s), seeds per partner 3: every partner decided" in capsys.readouterr().out


def test_the_budget_stops_or_cuts_a_round(tmp_path, monkeypatch, capsys):
    """Cells of 10 s (their records' wall time, and the clock's), one at a time: the first
    round is 9 cells (90 s); the next round of one partner 6 cells (70 s with the round's
    start), of both 9 (100 s)."""
    monkeypatch.setitem(GAIN, "BioNLP13PC", (0.005, 0.02))
    clock = {"now": 1000.0}
    monkeypatch.setattr(time, "monotonic", lambda: clock["now"])

    def ten_seconds(run):
        clock["now"] += 10.0
        return scripted_f1(run)

    scripted_cells(monkeypatch, ten_seconds, wall_seconds=10.0)
    base = ["--main", "Ex-PTM", "--aux", "BioNLP13PC,NCBI-disease", *QUIET]
    assert pairwise_cli(*base, "--budget", "0.5", "--out", str(tmp_path / "a")) == 0
    seeds = seeds_by_partner(ResultsFile(tmp_path / "a" / "results.jsonl").records())
    assert set(map(len, seeds.values())) == {3}  # the first round always runs; no other fits
    assert "the next round (~1.2 min) would overrun the --budget of 0.5 min" in \
        capsys.readouterr().out
    # 175 s: after the first round 85 s are left: one partner's next round fits (70 s), then
    # neither the other's (40 s) nor the first one's third (90 s) in the 25 s left
    assert pairwise_cli(*base, "--budget", str(175 / 60), "--out", str(tmp_path / "b")) == 0
    seeds = seeds_by_partner(ResultsFile(tmp_path / "b" / "results.jsonl").records())
    assert sorted(map(len, seeds.values())) == [3, 6, 6]
    assert seeds[summary.BASELINE] == list(range(1, 7))
    assert "2 round(s), seeds per partner 3, 6: the next round (~0.7 min) would overrun" in \
        capsys.readouterr().out


def test_a_grid_killed_mid_round_resumes_its_rounds_and_loses_no_cell(tmp_path, monkeypatch,
                                                                      capsys):
    whole = scripted_cells(monkeypatch, scripted_f1)
    assert pairwise_cli(*ROUNDS, "--out", str(tmp_path / "whole")) == 0
    out = tmp_path / "grid"
    trained = []

    def killed(run):  # the 15th cell: the third of the second round
        if len(trained) == 14:
            raise KeyboardInterrupt
        trained.append(run)
        return scripted_f1(run)

    scripted_cells(monkeypatch, killed)
    assert pairwise_cli(*ROUNDS, "--out", str(out)) == 130
    results = ResultsFile(out / "results.jsonl")
    assert len(results.records()) == 14  # every finished cell is kept
    again = scripted_cells(monkeypatch, scripted_f1)
    assert pairwise_cli(*ROUNDS, "--out", str(out), "--resume") == 0
    keys = [r.cell for r in results.records()]
    assert len(keys) == len(set(keys)) == len(whole)  # nothing twice, nothing missing
    assert not {grid.cell_key(r) for r in again} & {grid.cell_key(r) for r in trained}
    assert seeds_by_partner(results.records()) == seeds_by_partner(
        ResultsFile(tmp_path / "whole" / "results.jsonl").records())
    capsys.readouterr()
    again.clear()
    assert pairwise_cli(*ROUNDS, "--out", str(out), "--resume") == 0
    assert again == []  # a finished grid replays its rounds and trains nothing


def test_a_resume_keeps_the_plan_it_was_started_with(tmp_path, monkeypatch, capsys):
    scripted_cells(monkeypatch, scripted_f1)
    assert pairwise_cli(*ROUNDS, "--out", str(tmp_path)) == 0
    before = (tmp_path / "results.jsonl").read_text()
    for flags in (["--max-seeds", "20"], ["--margin", "2"]):
        assert pairwise_cli(*ROUNDS, *flags, "--out", str(tmp_path), "--resume") == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {tmp_path} was run as 'sequential looks=3,6,10 margin=1'")
        assert "resume with the flags it was started with" in err and "\n" not in err
    assert (tmp_path / "results.jsonl").read_text() == before


@pytest.mark.parametrize(("flags", "said"), [
    (["--model", "mlp"], "(model window-cnn there, results.jsonl line 1; mlp here)"),
    (["--set", "hidden=151"], "(model_options.hidden 150 there, "),
    (["--aux-weight", "0.5"], "(loss_weights (unset) there, results.jsonl line 2; [0.5] here)"),
])
def test_a_resume_with_other_settings_than_the_grid_there_is_refused(tmp_path, monkeypatch,
                                                                     capsys, flags, said):
    """--resume continues the grid its directory holds: another model's or setting's cells
    would be added beside it (checked before the plan, which another model keeps). The same
    command, and the same one with a partner more, still resume."""
    monkeypatch.setitem(GAIN, "Linnaeus", (0.0, 0.01))
    seen = scripted_cells(monkeypatch, scripted_f1)
    grid_args = [*ROUNDS, "--max-seeds", "3", "--out", str(tmp_path)]
    assert pairwise_cli(*grid_args) == 0
    before = (tmp_path / "results.jsonl").read_text()
    capsys.readouterr()
    assert pairwise_cli(*grid_args, *flags, "--resume") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --out {tmp_path} holds a grid of window-cnn with other "
                          "settings than this command's ") and "\n" not in err
    assert said in err and err.endswith("resume it with the flags it was started with, or "
                                        "give this grid another --out")
    assert (tmp_path / "results.jsonl").read_text() == before
    seen.clear()
    assert pairwise_cli(*grid_args, "--resume") == 0 and seen == []
    more = [a.replace("BC5CDR", "BC5CDR,Linnaeus") for a in grid_args]
    assert pairwise_cli(*more, "--resume") == 0
    assert {tuple(r.aux) for r in seen} == {("Linnaeus",)}
