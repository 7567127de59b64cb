"""The results file under concurrent writers and killed ones, and one grid per directory."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from data.errors import InputError
from training.results import ResultsFile, RunLock


def append_many(path: str, writer: int, count: int) -> None:
    results = ResultsFile(path)
    for i in range(count):
        results.append({"cell": f"{writer}-{i}", "payload": "x" * 5000})


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
    results.append({"cell": "a"})
    with path.open("a") as handle:
        handle.write('{"cell": "b", "test_f1": 0.')  # killed in the middle of a write
    assert [r["cell"] for r in results.records()] == ["a"]  # still readable
    results.append({"cell": "c"})
    assert [r["cell"] for r in results.records()] == ["a", "c"]
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_one_grid_at_a_time_per_directory(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(InputError, match="another grid is writing there now") as err:
            with RunLock(tmp_path):
                pass
        assert "\n" not in str(err.value)
    with RunLock(tmp_path):  # released when the first grid ended
        pass
