"""The results report, against small hand-made results files whose numbers we know: the
command (experiments/report.py) and the library it calls (training/grids/report.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bioner_mtl.experiments import report
from bioner_mtl.training.cli import run
from bioner_mtl.training.fit.results import RunRecord
from bioner_mtl.training.grids.report import build_report
from bioner_mtl.training.spec.catalogue import MODELS, variant
from tests.helpers import make_record


def rec(main: str, model: str = "window-cnn", aux: tuple[str, ...] = (), seed: int = 1,
        test: float = 0.8, token: float | None = None, devel: float | None = None,
        fraction: float = 1.0, preset: str = "paper", **extra) -> RunRecord:
    """A record with the fields report.py reads; devel and token default to the test F1."""
    return make_record(main=main, model=model, aux=list(aux), seed=seed, train_fraction=fraction,
                       preset=preset, test_f1=test, devel_f1=test if devel is None else devel,
                       test_token_macro_f1=test if token is None else token, **extra)


def seeds(main: str, values: list[float], **kwargs) -> list[RunRecord]:
    return [rec(main, seed=s, test=v, **kwargs) for s, v in enumerate(values, 1)]


def write(directory: Path, records: list[RunRecord]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.jsonl").write_text("".join(r.to_json() + "\n" for r in records))
    return directory


def make_report(tmp_path: Path, *directories: Path) -> str:
    out = tmp_path / "out" / "report.md"  # made again by some tests: --force
    assert run(report.main, [*map(str, directories), "--out", str(out), "--force"]) == 0
    return out.read_text()


def section(text: str, heading: str) -> str:
    """From the line starting with `heading` to the next heading of the same or higher level."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    level = len(heading) - len(heading.lstrip("#"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")
                and len(lines[i]) - len(lines[i].lstrip("#")) <= level), len(lines))
    return "\n".join(lines[start:end])


def row(text: str, first: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {first} |"))
    return [c.strip() for c in line.strip().strip("|").split("|")]


def crichton(text: str) -> str:
    return section(text, "### Window-CNN family vs CRICHTON tables 9 and 2 (paper preset")


def test_crichton_table_shows_our_mean_and_std_beside_the_paper(tmp_path):
    write(tmp_path / "runs" / "a", seeds("NCBI-disease", [0.80, 0.82]))
    cells = row(crichton(make_report(tmp_path, tmp_path / "runs")), "NCBI-disease")
    # corpus | MLP ours | MLP CRICHTON t.9 | STM ours | STM CRICHTON t.9 | ...
    assert cells[3] == "81.00 ± 1.41 (2)"  # mean 81, sample std sqrt(2) by hand
    assert cells[4] == "80.26"
    assert cells[1] == "–" and cells[2] == "79.09"  # no MLP runs; the paper's MLP


def test_significant_multi_task_cells_get_a_star_and_others_do_not(tmp_path):
    records = (
        # paired by seed: gains 5, 6, 4 points: t = 8.660, df = 2, p = 1 - t/sqrt(t^2 + 2)
        # = 0.0131 (no per-sentence counts in these records: seed variance only)
        seeds("BC2GM", [0.70, 0.71, 0.72]) + seeds("BC2GM", [0.75, 0.77, 0.76], aux=("BC5CDR",))
        # gains 3, -1, 1 points: mean 1, sd 2, t = 0.866, df = 2, p = 0.478
        + seeds("Linnaeus", [0.80, 0.82, 0.84])
        + seeds("Linnaeus", [0.83, 0.81, 0.85], aux=("BC5CDR",))
        # one single-task seed: no test however large the gain
        + seeds("Ex-PTM", [0.60]) + seeds("Ex-PTM", [0.70, 0.72], aux=("BioNLP09",)))
    text = crichton(make_report(tmp_path, write(tmp_path / "r", records)))
    assert row(text, "BC2GM")[7] == "76.00 ± 1.00 (3)* with BC5CDR"  # one partner
    assert row(text, "Linnaeus")[7] == "83.00 ± 2.00 (3) with BC5CDR"
    assert row(text, "Ex-PTM")[7] == "71.00 ± 1.41 (2) with BioNLP09"
    # Holm over the table's two tests: 2 x 0.01306 = 0.0261, and 0.478
    assert "BC2GM MO-MTM one partner vs STM: n = 3 vs 3, p = 0.0131, Holm p = 0.0261*" in text
    assert "Linnaeus MO-MTM one partner vs STM: n = 3 vs 3, p = 0.478, Holm p = 0.478" in text
    assert "Ex-PTM MO-MTM one partner vs STM: n = 2 vs 1, no test" in text
    assert "n < 2 on either side gives no test" in text


def test_a_star_reads_holm_over_the_tables_tests(tmp_path):
    """Gains 2, 3, 4 points: t = 5.196, df = 2, p = 1 - t / sqrt(t^2 + 2) = 0.0351, a star
    alone; beside a second test (p 0.478) Holm makes it 0.0702: no star."""
    alone = seeds("NCBI-disease", [0.70, 0.71, 0.72]) + seeds(
        "NCBI-disease", [0.72, 0.74, 0.76], aux=("BC5CDR",))
    text = crichton(make_report(tmp_path, write(tmp_path / "a", alone)))
    assert row(text, "NCBI-disease")[7] == "74.00 ± 2.00 (3)* with BC5CDR"
    both = alone + seeds("Linnaeus", [0.80, 0.82, 0.84]) + seeds(
        "Linnaeus", [0.83, 0.81, 0.85], aux=("BC5CDR",))
    text = crichton(make_report(tmp_path, write(tmp_path / "b", both)))
    assert row(text, "NCBI-disease")[7] == "74.00 ± 2.00 (3) with BC5CDR"
    assert "p = 0.0351, Holm p = 0.0702" in text


def test_crichton_columns_match_the_paper_tables_they_cite(tmp_path):
    """Table 9's MO-MTM was trained on all 15 corpora and its D-MTM has no NER partner: a
    one-partner run goes beside table 2's best-partner gain, a run with every other bundled
    corpus beside table 9's MO-MTM, and neither a D-MTM with a partner nor a window CNN with
    some partners fills a paper column (both stay in All record groups)."""
    from bioner_mtl.data.corpora import bundled_ner_corpora

    others = tuple(c for c in bundled_ner_corpora() if c != "Ex-PTM")
    records = [rec("Ex-PTM", test=0.60), rec("Ex-PTM", aux=("BioNLP11EPI",), test=0.65),
               rec("Ex-PTM", aux=others, test=0.70),
               rec("Ex-PTM", aux=("BioNLP09", "BC2GM"), test=0.99, devel=0.99),
               rec("Ex-PTM", "dependent-cnn", test=0.62),
               rec("Ex-PTM", "dependent-cnn", ("BioNLP09",), test=0.98, devel=0.98),
               rec("BC2GM", test=0.70)]
    text = make_report(tmp_path, write(tmp_path / "c", records))
    table = crichton(text)
    header = row(table, "corpus")
    assert header[1:] == [
        "MLP ours", "MLP CRICHTON t.9", "STM ours", "STM CRICHTON t.9",
        "MO-MTM all corpora ours", "MO-MTM all corpora CRICHTON t.9",
        "MO-MTM one partner ours", "MO-MTM one partner CRICHTON t.2 gain",
        "D-MTM ours", "D-MTM CRICHTON t.9"]
    cells = row(table, "Ex-PTM")
    assert cells[3:5] == ["60.00 (1)", "68.56"]
    assert cells[5:7] == [f"70.00 (1) with all {len(others)} others", "74.90"]  # table 9
    assert cells[7:9] == ["65.00 (1) with BioNLP11EPI", "+5.02* with BioNLP11EPI"]  # table 2
    assert cells[9:11] == ["62.00 (1)", "69.67"]  # D-MTM alone, not the one with a partner
    assert "99.00" not in table and "98.00" not in table
    assert row(table, "BC2GM")[8] == "not significant or negative"  # SPEC.md section 8
    groups = section(text, "## All record groups")
    assert "| Ex-PTM | dependent-cnn | BioNLP09 |" in groups
    assert "| Ex-PTM | window-cnn | BioNLP09+BC2GM |" in groups
    assert "table 2 for one partner" in table and "all 15 of their corpora" in table


def test_bert_rows_stand_beside_the_paper_model_of_their_kind(tmp_path):
    """TONG's model is one corpus with label-derived heads (bert-tong alone), KHAN's one model
    on three corpora (a multi-head bert); BioBERT's single-task number is Lee et al.'s as
    TONG's table 2 lists it, printed as the paper prints it."""
    records = [rec("NCBI-disease", "bert", test=0.80),
               rec("NCBI-disease", "bert", ("BC5CDR",), test=0.81),
               rec("NCBI-disease", "bert-tong", test=0.82),
               rec("NCBI-disease", "bert-tong", ("BC5CDR",), test=0.83)]
    text = section(make_report(tmp_path, write(tmp_path / "b", records)), "#### NCBI-disease")
    assert row(text, "single-task")[-1] == "BioBERT, Lee et al. as TONG t.2 lists it 89.36"
    assert row(text, "TONG one corpus")[-1] == "TONG max pooling 89.91"
    assert row(text, "multi-head with BC5CDR")[-1] == "KHAN 3-corpus MTL 88.1"
    assert row(text, "TONG multi-corpus with BC5CDR")[-1] == "–"  # TONG had no partners


def test_bert_rows_are_tested_against_the_plain_single_task_row(tmp_path):
    """TONG's one-corpus model has auxiliary heads: it gets a p against plain bert and is
    never the reference, even with the better devel F1 (before, it was taken as it)."""
    from bioner_mtl.training.grids import stats

    plain = [rec("NCBI-disease", "bert", seed=s, test=t) for s, t in ((1, 0.80), (2, 0.78))]
    tong = [rec("NCBI-disease", "bert-tong", seed=s, test=t) for s, t in ((1, 0.85), (2, 0.84))]
    multi = [rec("NCBI-disease", "bert", ("BC5CDR",), seed=s, test=t)
             for s, t in ((1, 0.81), (2, 0.82))]
    text = section(make_report(tmp_path, write(tmp_path / "b", plain + tong + multi)),
                   "#### NCBI-disease")
    assert row(text, "single-task")[4] == "–"
    for first, runs in (("TONG one corpus", tong), ("multi-head with BC5CDR", multi)):
        assert row(text, first)[4] == f"{stats.gain('', plain, runs).p:.3g}", first


def test_wang_table_uses_token_level_macro_f1(tmp_path):
    records = [rec("NCBI-disease", "bilstm-crf", seed=s, test=t, token=k)
               for s, t, k in ((1, 0.70, 0.85), (2, 0.72, 0.87))]
    records.append(rec("NCBI-disease", "cross-sharing", ("BioNLP09",), test=0.60, token=0.90))
    text = section(make_report(tmp_path, write(tmp_path / "w", records)),
                   "### BiLSTM-CNN-CRF family vs WANG table 2")
    cells = row(text, "NCBI-disease")
    assert cells[1:4] == ["86.00 ± 1.41 (2)", "86.05", "71.00 ± 1.41 (2)"]  # token, WANG, mention
    assert cells[13:16] == ["90.00 (1) with BioNLP09", "86.50", "60.00 (1)"]  # CS-MTM
    assert row(text, "corpus")[1:4] == ["STM token ours", "STM WANG t.2", "STM mention ours"]
    assert "does not say which partner its FS-, SP- and ADV-MTM used" in text


def test_pairwise_section_sorts_partners_by_devel_gain_and_gives_the_verdict(tmp_path):
    records = [rec("BC2GM", test=0.70), rec("BC2GM", aux=("BC5CDR",), test=0.71),
               rec("BC2GM", aux=("Linnaeus",), test=0.73),
               rec("BC2GM", aux=("NCBI-disease",), test=0.68)]
    text = section(make_report(tmp_path, write(tmp_path / "p", records)), "## Pairwise grids")
    partners = [line.split("|")[1].strip() for line in text.splitlines()
                if line.startswith("| ") and not line.startswith("| partner")]
    assert partners == ["(single-task window-cnn)", "Linnaeus", "BC5CDR", "NCBI-disease"]
    assert row(text, "Linnaeus")[3] == "+3.00" and row(text, "NCBI-disease")[3] == "-2.00"
    assert "Verdict for BC2GM: one seed: no verdict" in text  # one seed is no finding
    assert row(text, "Linnaeus")[6] == "undecided"
    records = [rec("BC2GM", seed=s, test=t) for s, t in ((1, 0.70), (2, 0.72), (3, 0.71))]
    records += [rec("BC2GM", aux=("Linnaeus",), seed=s, test=t, devel=0.8)
                for s, t in ((1, 0.75), (2, 0.76), (3, 0.77))]
    records += [rec("BC2GM", aux=("BC5CDR",), seed=s, test=t, devel=0.6)
                for s, t in ((1, 0.80), (2, 0.83), (3, 0.81))]
    text = section(make_report(tmp_path, write(tmp_path / "q", records)), "## Pairwise grids")
    partners = [line.split("|")[1].strip() for line in text.splitlines()
                if line.startswith("| ") and not line.startswith("| partner")]
    assert partners[1:] == ["Linnaeus", "BC5CDR"]  # devel decides the order, not test
    assert "95% CI" in text and "Verdict for BC2GM: Linnaeus helps (+5.00" in text
    assert row(text, "Linnaeus")[6] == "helps"  # the verdict column, the table's own test
    assert row(text, "BC5CDR")[6] == "helps"  # a verdict for every partner, chosen or not


def test_data_ablation_lists_fractions_in_order_and_writes_a_plot(tmp_path):
    records = []
    for fraction, st, mt in ((1.0, 0.80, 0.81), (0.25, 0.70, 0.76), (0.5, 0.76, 0.79)):
        records += seeds("NCBI-disease", [st - 0.01, st + 0.01], fraction=fraction)
        records += seeds("NCBI-disease", [mt - 0.01, mt + 0.01], fraction=fraction,
                         aux=("BC5CDR",))
    full = make_report(tmp_path, write(tmp_path / "d", records))
    text = section(full, "## Data ablation")
    fractions = [line.split("|")[1].strip() for line in text.splitlines()
                 if line.startswith("| ") and line.split("|")[1].strip().endswith("%")]
    assert fractions == ["25%", "50%", "100%"]
    assert row(text, "train fraction") == ["train fraction", "single-task", "loss",
                                           "window-cnn with BC5CDR", "loss",
                                           "CRICHTON t.10 loss STM / MO-MTM"]
    # 80 - 70 points lost; CRICHTON lost 8.0 (STM) and 3.0 (MO-MTM) at 25%
    assert row(text, "25%")[1:3] == ["70.00 ± 1.41 (2)", "10.00"]
    assert row(text, "25%")[5] == "8.0 / 3.0"
    plot = tmp_path / "out" / "ablation_NCBI-disease_window-cnn_paper.png"
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert f"]({plot.name})" in text and plot.name in section(full, "## Figures")


def test_data_ablation_keeps_two_plans_at_one_fraction_apart(tmp_path):
    """Two grids of rounds (another plan each) at the same fractions: two series with a
    plot each, not one whose cells the later grid overwrote."""
    records = []
    for looks, shift in (("3,6", 0.0), ("3,6,10", 0.05)):
        tag = f"sequential looks={looks} margin=1"
        for fraction in (0.25, 1.0):
            for seed in (1, 2, 3):
                records += [rec("NCBI-disease", seed=seed, test=0.6 + shift + 0.01 * seed,
                                fraction=fraction, experiment=tag,
                                cell=f"{looks}{fraction}b{seed}"),
                            rec("NCBI-disease", aux=("BC5CDR",), seed=seed, fraction=fraction,
                                test=0.62 + shift + 0.01 * seed, experiment=tag,
                                cell=f"{looks}{fraction}p{seed}")]
    text = section(make_report(tmp_path, write(tmp_path / "d", records)), "## Data ablation")
    assert [row(t, "25%")[1] for t in text.split("| train fraction")[1:]] == [
        "62.00 ± 1.00 (3)", "67.00 ± 1.00 (3)"]
    for name in ("paper", "paper-2"):
        plot = tmp_path / "out" / f"ablation_NCBI-disease_window-cnn_{name}.png"
        assert plot.read_bytes()[:4] == b"\x89PNG"


def test_data_ablation_keeps_two_partner_weights_apart(tmp_path):
    """Two ablation grids that differ only in --aux-weight: two series, not one whose cells
    the later grid overwrote at each fraction."""
    records = []
    for fraction in (0.25, 1.0):
        records += seeds("NCBI-disease", [0.70, 0.72], fraction=fraction)
        for weight, f1 in ((1.0, 0.75), (0.5, 0.80)):
            records += seeds("NCBI-disease", [f1, f1 + 0.02], fraction=fraction,
                             aux=("BC5CDR",), config={"loss_weights": {"BC5CDR": weight}})
    text = section(make_report(tmp_path, write(tmp_path / "w", records)), "## Data ablation")
    header = row(text, "train fraction")
    assert [h for h in header if "BC5CDR" in h] == [
        "window-cnn with BC5CDR, loss weights [0.5]", "window-cnn with BC5CDR, loss weights [1.0]"]
    assert row(text, "25%")[3].startswith("81.00 ± 1.41 (2)")  # the 0.5 grid's own cells


def test_figures_link_the_plots_found_in_run_directories(tmp_path):
    directory = write(tmp_path / "runs" / "grid", [rec("BC2GM")])
    (directory / "gains_BC2GM.png").write_bytes(b"\x89PNG")
    text = section(make_report(tmp_path, tmp_path / "runs"), "## Figures")
    assert "![gains_BC2GM.png](../runs/grid/gains_BC2GM.png)" in text


def test_a_results_file_with_an_old_record_stops_with_one_line(tmp_path, capsys):
    old = {"main": "NCBI-disease", "model": "window-cnn", "aux": [], "seed": 1,
           "decoding": "viterbi", "test_f1": 0.75}  # before records had a format
    directory = write(tmp_path / "old", [rec("BC2GM")])
    with (directory / "results.jsonl").open("a") as handle:
        handle.write(json.dumps(old) + "\n")
    assert run(report.main, [str(directory)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {directory / 'results.jsonl'}:2: ") and "\n" not in err
    assert "format" in err and not (directory / "report.md").exists()


def test_runs_of_one_cell_on_two_versions_of_a_corpus_are_refused_not_pooled(tmp_path,
                                                                              capsys):
    first = write(tmp_path / "v1", [rec("BC2GM", seed=1, data={"BC2GM": "aaaa"})])
    second = write(tmp_path / "v2", [rec("BC2GM", seed=2, data={"BC2GM": "bbbb"})])
    assert run(report.main, [str(first), str(second), "--out", str(tmp_path / "r.md")]) == 2
    err = capsys.readouterr().err.strip()
    assert "different versions of BC2GM's files" in err and "\n" not in err
    assert not (tmp_path / "r.md").exists()
    same = write(tmp_path / "v3", [rec("BC2GM", seed=3, data={"BC2GM": "aaaa"})])
    assert run(report.main, [str(first), str(same), "--out", str(tmp_path / "r.md")]) == 0


def test_variants_are_not_pooled_as_seeds(tmp_path):
    records = [rec("BC5CDR", test=0.70, devel=0.72, config={"model_options": {}}),
               rec("BC5CDR", test=0.75, devel=0.78,
                   config={"model_options": {"fixed_vectors": False}}),
               rec("BC5CDR", seed=2, test=0.71, devel=0.73, config={"model_options": {}})]
    text = make_report(tmp_path, write(tmp_path / "v", records))
    assert row(crichton(text), "BC5CDR")[3] == "75.00 (1) [fixed_vectors=false]"  # best devel
    assert "| BC5CDR | window-cnn | none | paper | 100% | – | 1,2 | 70.50 ± 0.71 (2) |" in text


def test_the_library_builds_the_text_the_command_writes_and_writes_no_report(tmp_path):
    directory = write(tmp_path / "lib", seeds("NCBI-disease", [0.80, 0.82]))
    out = tmp_path / "out" / "report.md"
    text = build_report([directory], [directory / "results.jsonl"], out)
    assert not out.exists()  # writing it is the command's part
    assert text.startswith("# bioner-mtl results report") and "81.00 ± 1.41 (2)" in text
    assert make_report(tmp_path, directory) == text


def test_default_output_goes_into_the_only_run_directory(tmp_path, capsys):
    directory = write(tmp_path / "one", [rec("BC2GM")])
    assert run(report.main, [str(directory)]) == 0
    assert (directory / "report.md").read_text().startswith("# bioner-mtl results report")
    assert capsys.readouterr().out.strip() == f"report: {directory / 'report.md'}"


def test_a_directory_without_results_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run(report.main, [str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no results.jsonl" in err and "\n" not in err


def test_a_malformed_line_is_named_by_file_and_line(tmp_path, capsys):
    directory = write(tmp_path / "bad", [rec("BC2GM")])
    with (directory / "results.jsonl").open("a") as handle:
        handle.write("{not json\n")
    assert run(report.main, [str(directory)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{directory / 'results.jsonl'}:2:" in err and "\n" not in err


def test_entity_ablation_runs_stay_out_of_the_tables(tmp_path):
    transfer = {"leave_out": "Disease", "config": {"init_encoder": "/x/without-Disease.h5"}}
    records = [rec("NCBI-disease", model="bert", test=0.60),
               rec("NCBI-disease", model="bert", test=0.90, leave_out="Disease"),
               rec("NCBI-disease", model="bert", test=0.95, **transfer)]
    text = make_report(tmp_path, write(tmp_path / "e", records))
    bert = section(text, "#### NCBI-disease")
    assert "60.00 (1)" in bert and "90.00" not in bert and "95.00" not in bert
    groups = section(text, "## All record groups")
    assert "entity ablation, leave out Disease | 1 | 90.00 (1)" in groups
    assert "from encoder without-Disease.h5 | 1 | 95.00 (1)" in groups


def test_every_head_of_a_multi_head_model_is_shown(tmp_path):
    def heads(main_f1, aux_f1):
        return {"BC2GM": {"devel": {"f1": main_f1}, "test": {"f1": main_f1}},
                "BC5CDR": {"devel": {"f1": aux_f1 + 0.01}, "test": {"f1": aux_f1}}}

    records = [rec("BC2GM", aux=("BC5CDR",), seed=s, test=m, heads=heads(m, a))
               for s, m, a in ((1, 0.70, 0.80), (2, 0.72, 0.84))]
    text = section(make_report(tmp_path, write(tmp_path / "h", records)),
                   "## Every head of multi-head models")
    assert row(text, "BC2GM")[4:8] == ["BC2GM", "main", "2", "71.00 ± 1.41"]
    partner = next(line for line in text.splitlines() if "| partner |" in line)
    assert "82.00 ± 2.83" in partner and "83.00 ± 2.83" in partner  # test, devel by hand


@pytest.fixture
def tiny_cnn(request):
    """A window-cnn variant the papers never had (paper=None), registered for one test; its
    baseline: itself alone (the catalogue default) or another registered model."""
    variant("tiny-cnn", "window-cnn", "a narrow window CNN", config_options={"filters": 4},
            paper=None, baseline=request.param)
    yield "tiny-cnn"
    MODELS.pop("tiny-cnn")


@pytest.mark.parametrize("tiny_cnn, baseline", [(None, "tiny-cnn"), ("window-cnn", "window-cnn")],
                         indirect=["tiny_cnn"])
def test_a_registered_model_is_reported_beside_its_catalogue_baseline(tmp_path, tiny_cnn,
                                                                       baseline):
    records = [  # single-task cells of three models; only the catalogue's baseline counts
        *seeds("BC2GM", [0.60, 0.62], model="tiny-cnn"),
        *seeds("BC2GM", [0.50, 0.52], model="mlp"),
        *seeds("BC2GM", [0.90, 0.92], model="window-cnn"),
        *seeds("BC2GM", [0.70, 0.72], model="tiny-cnn", aux=("BC5CDR",)),
        *seeds("BC2GM", [0.65, 0.69], model="tiny-cnn", fraction=0.5),
    ]
    text = make_report(tmp_path, write(tmp_path / "t", records))
    grid = section(text, "### BC2GM: tiny-cnn, paper preset, full training data")
    base_f1 = {"tiny-cnn": 0.61, "window-cnn": 0.91}[baseline]
    assert row(grid, f"(single-task {baseline})")[1:3] == ["2", f"{100 * base_f1:.2f} ± 1.41 (2)"]
    assert row(grid, "BC5CDR")[3] == f"{100 * (0.71 - base_f1):+.2f}"  # paired by seed
    assert "Verdict for BC2GM:" in grid
    # no paper column: not in CRICHTON's table, yet in the ablation and every group's list
    assert "tiny-cnn" not in crichton(text)
    if baseline == "tiny-cnn":
        ablation = section(text, "### BC2GM: tiny-cnn family")
        assert row(ablation, "train fraction")[1:3] == ["single-task", "loss"]
    assert "| BC2GM | tiny-cnn | BC5CDR | paper | 100% |" in section(text, "## All record groups")


def grid_run(directory: Path, looks: str, gains: list[float]) -> tuple[Path, list[RunRecord]]:
    """A pairwise grid of BC2GM with partner BC5CDR run in rounds (`looks`), one seed per
    gain, as pairwise.py writes it: each record with its cell and the plan's tag."""
    tag = f"sequential looks={looks} margin=1"
    records = []
    for seed, g in enumerate(gains, 1):
        base = 0.70 + 0.01 * (seed % 3)
        records += [rec("BC2GM", seed=seed, test=base, cell=f"base-{seed}", experiment=tag,
                        preset="quick"),
                    rec("BC2GM", aux=("BC5CDR",), seed=seed, test=base + g,
                        cell=f"BC5CDR-{seed}", experiment=tag, preset="quick")]
    return write(directory, records), records


def test_a_grid_and_the_larger_one_started_after_it_are_reported_apart(tmp_path):
    """docs/grids.md: to go past --max-seeds, start a new grid with a larger one. Its first
    six seeds are the old grid's cells again: read together, the two grids stay two (never
    pooled into one plan, which stopped the report), each with the verdict it printed."""
    from bioner_mtl.training.grids import summary

    gains = [0.004, 0.012, -0.002, 0.009, 0.001, 0.011, 0.006, 0.003, 0.010, 0.007]
    old, old_records = grid_run(tmp_path / "old", "3,6", gains[:6])
    new, new_records = grid_run(tmp_path / "new", "3,6,10", gains)
    text = section(make_report(tmp_path, old, new), "## Pairwise grids")
    for looks, records, seeds in (("3, 6", old_records, "6"), ("3, 6, 10", new_records, "10")):
        grid = section(text, f"### BC2GM: window-cnn, quick preset, full training data, "
                             f"rounds of {looks} seeds, margin 1")
        printed = summary.partner_rows(records)["BC2GM"][1].gain  # as the grid printed it
        assert row(grid, "BC5CDR")[1] == seeds
        assert row(grid, "BC5CDR")[3] == f"{100 * printed.mean:+.2f}"
        assert row(grid, "BC5CDR")[6] == printed.verdict
    groups = section(make_report(tmp_path, new, old), "## All record groups")
    assert "rounds of 3, 6, 10 seeds, margin 1 |" in groups
    assert "| 1,2,3,4,5,6 |" in groups and "| 1,2,3,4,5,6,7,8,9,10 |" in groups
