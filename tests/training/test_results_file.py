"""The results file under concurrent writers and killed ones, one grid per directory, old
records refused in one line, and which settings make two runs the same cell."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from bioner_mtl.data.errors import InputError
from bioner_mtl.training.fit.results import ResultsFile, RunLock, cell_key
from bioner_mtl.training.spec.config import RunConfig, replace
from tests.helpers import make_record


def append_many(path: str, writer: int, count: int) -> None:
    results = ResultsFile(path)
    for i in range(count):
        results.append(make_record(cell=f"{writer}-{i}", device="x" * 5000))


def test_two_processes_appending_lose_no_record(tmp_path):
    path = str(tmp_path / "results.jsonl")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=append_many, args=(path, w, 40)) for w in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    cells = ResultsFile(path).finished()
    assert cells == {f"{w}-{i}" for w in range(2) for i in range(40)}


def test_a_line_torn_by_a_killed_writer_is_dropped_and_cut_off(tmp_path):
    path = tmp_path / "results.jsonl"
    results = ResultsFile(path)
    results.append(make_record(cell="a"))
    with path.open("a") as handle:
        handle.write('{"cell": "b", "test_f1": 0.')  # killed in the middle of a write
    assert [r.cell for r in results.records()] == ["a"]  # still readable
    results.append(make_record(cell="c"))
    assert [r.cell for r in results.records()] == ["a", "c"]
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_a_record_without_a_format_is_refused_in_one_line_naming_file_and_line(tmp_path):
    path = tmp_path / "results.jsonl"
    results = ResultsFile(path)
    results.append(make_record(cell="new"))
    old = json.loads(make_record(cell="old").to_json())
    del old["format"]  # as bioner-mtl wrote records before they had a format
    with path.open("a") as handle:
        handle.write(json.dumps(old) + "\n")
    with pytest.raises(InputError, match="before records had a format") as err:
        results.records()
    assert str(err.value).startswith(f"{path}:2: ") and "\n" not in str(err.value)


def test_cell_key_ignores_where_a_run_is_kept_but_not_what_it_computes():
    run = RunConfig(main="NCBI-disease", aux=("BC5CDR",))
    key = cell_key(run)
    assert cell_key(replace(run, gpus=2)) == key
    assert cell_key(replace(run, save_bundle="/tmp/bundle")) == key
    assert cell_key(replace(run, seed=2)) != key
    assert cell_key(replace(run, aux=())) != key


def test_one_grid_at_a_time_per_directory(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(InputError, match="another grid is writing there now") as err:
            with RunLock(tmp_path):
                pass
        assert "\n" not in str(err.value)
    with RunLock(tmp_path):  # released when the first grid ended
        pass


def test_records_name_the_bioner_mtl_that_made_them_outside_the_cell(tmp_path):
    """versions() names bioner-mtl's own version (provenance), which is no part of a cell:
    a resume after an upgrade keeps its cells, and a record written before the version was
    kept reads back as it was."""
    from bioner_mtl import __version__
    from bioner_mtl.training.fit.results import identity, versions

    assert versions()["bioner-mtl"] == __version__
    run = RunConfig(main="NCBI-disease", aux=("BC5CDR",))
    assert not any("version" in key for key in identity(run))
    path = tmp_path / "results.jsonl"
    old = make_record(cell="old", config=run.to_dict(), versions={"python": "3.11.0"})
    new = make_record(cell="new", config=run.to_dict(), versions=versions())
    ResultsFile(path).append(old)
    ResultsFile(path).append(new)
    first, second = ResultsFile(path).records()
    assert first.versions == {"python": "3.11.0"} and second.versions["bioner-mtl"] == __version__
    assert cell_key(first.config) == cell_key(second.config)
