"""The partner recommender: ranking, the gains file, leave-one-main-corpus-out validation and
pairwise --recommend K."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bioner_mtl.experiments import pairwise
from bioner_mtl.experiments import recommend as command
from bioner_mtl.training.cli import run
from bioner_mtl.training.fit.results import ResultsFile
from bioner_mtl.training.grids import recommend, summary
from tests.data.test_partner_features import MAIN, PARTNER, write_corpus
from tests.experiments.test_pairwise import ONE_ROUND, TINY
from tests.helpers import make_record

ROOT = Path(__file__).resolve().parents[2]


def cli(*args):
    return run(command.main, [str(a) for a in args])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


@pytest.fixture
def no_default_gains(monkeypatch, tmp_path):
    monkeypatch.setattr(recommend, "GAINS_FILE", tmp_path / "absent.jsonl")


# ----- validation metrics, by hand ---------------------------------------------------------
def test_spearman_by_hand():
    # ranks 1 2 3 4 against 1 3 2 4: sum d^2 = 2, rho = 1 - 6 x 2 / (4 x 15) = 0.8
    assert recommend.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    # ties share their rank: (1.5, 1.5, 3) against (1, 2, 3): 1.5 / sqrt(1.5 x 2)
    assert recommend.spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(1.5 / 3 ** 0.5)
    assert recommend.spearman([5, 1, 3], [1, 9, 4]) == pytest.approx(-1.0)
    assert recommend.spearman([1, 1, 1], [1, 2, 3]) is None  # a constant ranking says nothing


def test_hit_rates_by_hand():
    scores, gains = [0.9, 0.5, 0.7, 0.1], [1, 5, 2, 0]  # the best (5) is ranked third
    assert recommend.hit_rate(scores, gains, 1) == 0.0
    assert recommend.hit_rate(scores, gains, 3) == 1.0
    # same-class scores tie: the best shares first place with one other partner
    assert recommend.hit_rate([1, 1, 0, 0], [3, 1, 0, 2], 1) == 0.5
    # the best is in a three-way tie behind one partner: top-3 holds 2 of those 3 places
    assert recommend.hit_rate([1, 0, 0, 0], [0, 5, 1, 1], 1) == 0.0
    assert recommend.hit_rate([1, 0, 0, 0], [0, 5, 1, 1], 3) == pytest.approx(2 / 3)
    assert recommend.random_expectation(10) == {"spearman": 0.0, "top1": 0.1, "top3": 0.3}
    assert recommend.same_class_scores([{"class_overlap": 0.5}, {"class_overlap": 0.0},
                                        {"class_overlap": None}]) == [1.0, 0.0, 0.0]


def synthetic(mains=("A", "B", "C", "D"), partners=6, seed=0):
    """Gains exactly linear in mention_coverage, the other features noise."""
    rng = np.random.default_rng(seed)
    gains, rows = [], []
    for main in mains:
        for j in range(partners):
            row = {name: float(rng.normal()) for name in recommend.FEATURE_NAMES}
            gain = 3.0 * row["mention_coverage"] + 0.5
            gains.append(recommend.MeasuredGain(main, f"P{j}", gain, gain - 1, gain + 1, 0.01,
                                                3, gain, "quick", "window-cnn"))
            rows.append(row)
    return gains, rows


def test_validation_never_fits_a_main_corpus_s_scorer_on_its_own_gains():
    gains, rows = synthetic()
    seen = []

    def spy(fit_rows, fit_gains, fit_mains):
        seen.append(set(fit_mains))
        assert len(fit_rows) == len(fit_gains) == len(fit_mains)
        return recommend.Scorer.fit(fit_rows, fit_gains, fit_mains)

    results, overall = recommend.validate(gains, rows, fit=spy)
    assert [r.main for r in results] == ["A", "B", "C", "D"]
    assert seen == [{"B", "C", "D"}, {"A", "C", "D"}, {"A", "B", "D"}, {"A", "B", "C"}]
    # the relation the others' gains teach ranks every held-out main perfectly
    for r in results:
        assert r.figures["recommender"] == {"spearman": pytest.approx(1.0), "top1": 1.0,
                                            "top3": 1.0}
        own = [g for g in gains if g.main == r.main]
        assert r.best == r.predicted_first == max(own, key=lambda g: g.gain).aux
        assert r.distinguishable == sum(abs(g.gain) > 1 for g in own)  # CI: gain -1 .. +1
    assert overall["recommender"]["spearman"] == pytest.approx(1.0)
    assert overall["random (expected)"]["top3"] == pytest.approx(0.5)
    # A's own gains do not move A's predictions: scramble them, A's ranking stays
    scrambled = [recommend.MeasuredGain(g.main, g.aux, -g.gain, -g.gain - 1, -g.gain + 1,
                                        0.01, 3, None, None, None) if g.main == "A" else g
                 for g in gains]
    again, _ = recommend.validate(scrambled, rows)
    assert again[0].predicted_first == results[0].predicted_first
    assert again[0].figures["recommender"]["spearman"] == pytest.approx(-1.0)


def test_rankers_are_compared_on_the_same_main_corpora_paired():
    """A constant ranking (every partner shares the main's class) has rho 0, its expectation
    over random orders of its ties, so it is averaged with the others instead of being left
    out (which compared the recommender over 6 corpora with the heuristic over 5); the
    recommender's lead over the heuristic is a paired mean with its bootstrap interval."""
    assert recommend.main_figures([1, 1, 1], [0.1, 0.3, 0.2])["spearman"] == 0.0
    gains, rows = synthetic()
    results, overall = recommend.validate(gains, rows)
    rec, same = ([r.figures[k]["spearman"] for r in results]
                 for k in ("recommender", "same class first"))
    assert overall["same class first"]["spearman"] == pytest.approx(np.mean(same))
    mean, (low, high) = overall["ahead"]
    assert mean == pytest.approx(np.mean(rec) - np.mean(same)) and low <= mean <= high


def test_scorer_interval_comes_from_leave_one_main_out_residuals():
    gains, rows = synthetic()
    noisy = [g.gain + e for g, e in zip(gains, np.random.default_rng(1).normal(0, 1, 24))]
    scorer = recommend.Scorer.fit(rows, noisy, [g.main for g in gains])
    assert scorer.penalty in recommend.PENALTIES and "inner leave-one-main-out" in \
        scorer.describe()
    assert scorer.residual_low < 0 < scorer.residual_high
    residuals = recommend._lomo_residuals(recommend.feature_matrix(rows), np.array(noisy),
                                          np.array([g.main for g in gains]), scorer.penalty)
    assert scorer.residual_low == pytest.approx(np.quantile(residuals, 0.025))
    assert max(scorer.weights, key=lambda n: abs(scorer.weights[n])) == "mention_coverage"


# ----- the gains file ----------------------------------------------------------------------
def gains_line(main, aux, gain, low=None, high=None, **extra):
    return json.dumps({"main": main, "aux": aux, "gain": gain,
                       "ci_low": gain - 1 if low is None else low,
                       "ci_high": gain + 1 if high is None else high, "p": 0.5, "seeds": 3,
                       "devel_gain": gain, "preset": "quick", "model": "window-cnn", **extra})


@pytest.fixture
def three(tmp_path):
    """Three tiny corpus directories and a gains file over them (A's gains clear of zero)."""
    extra = [[("IL-2", "B-Gene"), ("rises", "O")]]
    a, b, c = (write_corpus(tmp_path / "A", MAIN), write_corpus(tmp_path / "B", PARTNER),
               write_corpus(tmp_path / "C", extra))
    path = tmp_path / "gains.jsonl"
    path.write_text("\n".join([gains_line(a, b, 2.0, 1.0, 3.0), gains_line(a, c, 0.5, 0.2, 0.8),
                               gains_line(b, a, 0.3), gains_line(b, c, -0.2),
                               gains_line(c, a, 0.1), gains_line(c, b, 0.4)]) + "\n")
    return a, b, c, path


def test_validate_prints_per_main_and_overall_and_flags_noise(three, capsys):
    *_, path = three
    assert cli("--validate", path) == 0
    out = capsys.readouterr().out
    assert "leave-one-main-corpus-out validation" in out and "overall (means over 3" in out
    rows = [line for line in out.splitlines() if line.startswith(str(Path(path).parent))]
    assert len(rows) == 3
    assert rows[0].split()[1:3] == ["2", "2"]  # A: 2 partners, both clear of zero
    assert "no partner's gain is distinguishable from zero for " in out
    assert str(Path(path).parent / "B") in out.split("distinguishable from zero for ")[1]


@pytest.mark.parametrize(("line", "message"), [
    ('{"main": "A", "aux": "B", "gain": 1.0}', ":2: lacks the field 'ci_low'"),
    ("not json", ":2: not a JSON object"),
    ('{"main": "BC2G", "aux": "BC5CDR", "gain": 1, "ci_low": 0, "ci_high": 2, "p": 0.1, '
     '"seeds": 3, "devel_gain": 1, "preset": "quick", "model": "m"}', "unknown corpus 'BC2G'"),
])
def test_a_bad_gains_file_is_one_error_line_naming_file_and_line(tmp_path, capsys, three,
                                                                 line, message):
    a, b, *_ = three
    path = tmp_path / "bad.jsonl"
    path.write_text(gains_line(a, b, 1.0) + "\n" + line + "\n")
    assert cli("--validate", path) == 2
    err = one_error_line(capsys)
    assert message in err and str(path) in err


def test_collect_writes_the_summary_s_gains_atomically(tmp_path, capsys):
    run_dir, out = tmp_path / "grid", tmp_path / "gains.jsonl"
    run_dir.mkdir()
    records = [make_record(main="A", aux=aux, seed=s, test_f1=f, devel_f1=f + d, preset="quick")
               for aux, d, pairs in [([], 0, [(1, 0.70), (2, 0.72), (3, 0.74)]),
                                     (["B"], 0.01, [(1, 0.80), (2, 0.81), (3, 0.82)])]
               for s, f in pairs]
    (run_dir / "results.jsonl").write_text("".join(r.to_json() + "\n" for r in records))
    assert cli("--collect", run_dir, "--out", out) == 0
    assert "wrote 1 gains lines of 1 main corpora" in capsys.readouterr().out
    [line] = recommend.read_gains(out)
    gain = summary.partner_rows(ResultsFile(run_dir / "results.jsonl").records())["A"][1].gain
    assert (line.main, line.aux, line.seeds, line.preset, line.model) == (
        "A", "B", 3, "quick", "window-cnn")
    assert line.gain == pytest.approx(9.0) and line.p == pytest.approx(gain.p)  # by hand: 9
    assert (line.ci_low, line.ci_high) == pytest.approx((100 * gain.low, 100 * gain.high))
    assert line.devel_gain == pytest.approx(10.0)
    assert line.verdict == gain.verdict == "helps"  # +9 [+6.5, +11.5] by hand, one partner
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gains.jsonl", "grid"]  # no temp
    assert cli("--collect", tmp_path / "nothing", "--out", out) == 2
    assert "no results.jsonl" in one_error_line(capsys)


def grid_records(main: str, model: str, base: list[float], partner: list[float],
                 aux: str = "B") -> list:
    """A pairwise grid's records by hand: the single-task runs, then the partner's."""
    return [make_record(main=main, aux=a, model=model, seed=s, test_f1=f, preset="quick",
                        cell=f"{main}-{model}-{'+'.join(a)}-{s}")
            for a, values in (([], base), ([aux], partner)) for s, f in enumerate(values, 1)]


def write_grid(directory: Path, records: list) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.jsonl").write_text("".join(r.to_json() + "\n" for r in records))
    return directory


def test_collect_pairs_a_partner_only_with_the_baseline_of_its_own_model(tmp_path, capsys):
    """A partner's runs are paired with the single-task runs of their own kind of cell, not
    with another model's seeds of the same corpus; each line names its one model."""
    window = grid_records("A", "window-cnn", [0.70, 0.72, 0.74], [0.80, 0.81, 0.82])
    other = grid_records("A", "mlp", [0.50, 0.40, 0.60], [])  # an mlp baseline, no partner
    mlp = grid_records("C", "mlp", [0.60, 0.62, 0.64], [0.61, 0.64, 0.63])
    out = tmp_path / "gains.jsonl"
    assert cli("--collect", write_grid(tmp_path / "g", window + other + mlp), "--out", out) == 0
    lines = {(g.main, g.aux): g for g in recommend.read_gains(out)}
    assert (lines["A", "B"].model, lines["C", "B"].model) == ("window-cnn", "mlp")
    assert lines["A", "B"].gain == pytest.approx(9.0)  # against window-cnn's own seeds
    assert lines["C", "B"].gain == pytest.approx(2 / 3)


def test_collect_refuses_one_pair_measured_as_two_kinds_of_cell(tmp_path, capsys):
    """pairwise --resume --model mlp into a window-cnn grid's directory (refused now) left
    two models' cells of one (main, partner); pooled, its line said model 'mlp+window-cnn'.
    The scorer has no feature for the model: one line names both kinds."""
    both = (grid_records("A", "window-cnn", [0.70, 0.72, 0.74], [0.80, 0.81, 0.82])
            + grid_records("A", "mlp", [0.60, 0.62, 0.64], [0.61, 0.64, 0.63]))
    out = tmp_path / "gains.jsonl"
    assert cli("--collect", write_grid(tmp_path / "mixed", both), "--out", out) == 2
    err = one_error_line(capsys)
    assert "main A with partner B was measured as two kinds of cell" in err
    assert "window-cnn, quick preset" in err and "mlp, quick preset" in err
    assert "they differ in model" in err and not out.exists()
    one = write_grid(tmp_path / "one", both[:6])
    again = write_grid(tmp_path / "again", both[:6])  # the same cells, copied
    assert cli("--collect", one, again, "--out", out) == 2
    assert "collect each cell once" in one_error_line(capsys)


# ----- ranking -----------------------------------------------------------------------------
def test_ranking_without_gains_uses_the_unweighted_score(three, no_default_gains, capsys):
    a, b, c, _ = three
    assert cli("--main", a, "--aux", f"{c},{b}") == 0
    out = capsys.readouterr().out
    assert "unweighted score (no gains file)" in out and "class_overlap missing" in out
    table = [line.split() for line in out.splitlines() if line[:4].strip().isdigit()]
    # B annotates 2 of A's 3 mentions, C none (its IL-2 is one token, A's is "il-2 gene")
    assert [(row[0], row[1], row[3]) for row in table] == [("1", b, "n/a"), ("2", c, "n/a")]


def test_ranking_with_a_gains_file_gives_an_expected_gain_and_interval(three, capsys):
    a, b, c, path = three
    ranking, how = recommend.rank(a, [b, c], path)
    assert "ridge regression" in how and "inner leave-one-main-out" in how
    assert all(r.low < r.expected < r.high and r.score == r.expected for r in ranking)
    assert [r.rank for r in ranking] == [1, 2] and ranking[0].score >= ranking[1].score
    assert cli("--main", a, "--aux", f"{b},{c}", "--gains", path) == 0
    assert "expected gain's 95% interval" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--main", "BC2G"], "unknown corpus 'BC2G'; did you mean 'BC2GM'"),
    (["--main", "NCBI-disease", "--aux", "BC5CDR,Foo"], "unknown corpus 'Foo'"),
    (["--main", "NCBI-disease", "--aux", "NCBI-disease"], "as its own partner"),
    (["--main", "NCBI-disease", "--gains", "nope.jsonl"], "nope.jsonl: no such gains file"),
    (["--collect", "x"], "--collect needs --out FILE"),
])
def test_bad_arguments_stop_with_one_line(capsys, args, message):
    assert cli(*args) == 2
    assert message in one_error_line(capsys)


def test_the_command_loads_no_tensorflow(three, tmp_path):
    a, b, *_ = three
    code = ("import sys\nfrom bioner_mtl.experiments import recommend\n"
            "from bioner_mtl.training.cli import run\n"
            f"assert run(recommend.main, ['--main', {a!r}, '--aux', {b!r}]) == 0\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'tensorflow', 'keras', 'keras_hub', 'sklearn'}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


# ----- pairwise --recommend K --------------------------------------------------------------
def test_pairwise_recommend_trains_the_baseline_and_the_best_partner_only(
        tmp_path, capsys, no_default_gains):
    out = tmp_path / "grid"
    args = ["--main", "Ex-PTM", "--aux", "NCBI-disease,BioNLP13PC", "--recommend", "1",
            "--out", str(out), *TINY, *ONE_ROUND]
    assert run(pairwise.main, args) == 0
    records = ResultsFile(out / "results.jsonl").records()
    assert sorted(tuple(r.aux) for r in records) == [(), ("BioNLP13PC",)]  # same class: Gene
    printed = capsys.readouterr().out
    assert "--recommend 1: skipped 1 of 2 candidate partners" in printed
    assert "skipped NCBI-disease" in printed and "rank  2" in printed
    with (out / "recommendation.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["partner"], r["status"].split(":")[0]) for r in rows] == [
        ("BioNLP13PC", "trained"), ("NCBI-disease", "skipped")]
    assert rows[1]["status"].startswith("skipped: rank 2 > 1, score ")
    assert run(pairwise.main, ["--main", "Ex-PTM", "--recommend", "0", "--out",
                               str(tmp_path / "zero")]) == 2
    assert "--recommend 0: train at least one partner" in one_error_line(capsys)
