"""Executors: the same tiny grid in-process, in a process pool and on a local Ray instance
gives the same cells and the same numbers, and resume works the same everywhere."""

import builtins
import pickle

import pytest

from bioner_mtl.data.errors import InputError
from bioner_mtl.experiments import pairwise
from bioner_mtl.training.cli import run
from bioner_mtl.training.fit.results import ResultsFile, cell_key
from bioner_mtl.training.grids import executors
from bioner_mtl.training.grids.grid import run_cells
from bioner_mtl.training.spec.config import RunConfig
from tests.experiments.test_pairwise import ONE_ROUND, TINY

# baseline + 2 partners, one seed each (one round)
GRID = ["--main", "Ex-PTM", "--aux", "BioNLP13PC,NCBI-disease", *TINY, *ONE_ROUND]


def pairwise_cli(*args):
    return run(pairwise.main, list(args))


def grid_runs(args):
    return pairwise.build_runs(pairwise.parser().parse_args(args))


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """The tiny 3-cell grid trained here, one cell after another: test F1 by cell key."""
    results = ResultsFile(tmp_path_factory.mktemp("inprocess") / "results.jsonl")
    records = run_cells(grid_runs(GRID), results, progress=False,
                        executor=executors.make_executor("inprocess"))
    return {r.cell: r for r in records}


def train_here(monkeypatch):
    """Make training in THIS process fail: the cells must train in workers."""
    from bioner_mtl.training.grids import executors

    def refuse(run_config, progress=True):
        raise AssertionError("a cell trained in the parent process")

    monkeypatch.setattr(executors, "train_run", refuse)


def lines(path):
    return ResultsFile(path).records()


def test_run_configs_survive_pickling():
    for run_config in grid_runs(GRID):
        copy = pickle.loads(pickle.dumps(run_config))
        assert copy == run_config and cell_key(copy) == cell_key(run_config)


def test_ray_resumes_a_grid_with_the_same_numbers(tmp_path, reference, monkeypatch):
    """A grid killed after its first cell: Ray trains only the two missing cells, and they
    score exactly what they scored in-process."""
    pytest.importorskip("ray")
    runs = grid_runs(GRID)
    keys = [cell_key(r) for r in runs]
    assert sorted(keys) == sorted(reference)
    out = tmp_path / "grid"
    results = ResultsFile(out / "results.jsonl")
    results.append(reference[keys[0]])  # the baseline finished before the kill
    first = (out / "results.jsonl").read_text()
    train_here(monkeypatch)

    assert pairwise_cli(*GRID, "--out", str(out), "--resume", "--executor", "ray",
                        "--workers", "2") == 0
    records = lines(out / "results.jsonl")
    assert (out / "results.jsonl").read_text().startswith(first)  # left as it was
    assert len(records) == 3 and sorted(r.cell for r in records) == sorted(keys)
    for record in records[1:]:  # trained on Ray, each by its own seed
        assert record.test_f1 == reference[record.cell].test_f1
        assert record.devel_f1 == reference[record.cell].devel_f1
        assert record.history == reference[record.cell].history


def test_pool_trains_two_cells_with_two_workers(tmp_path, reference, monkeypatch):
    args = ["--main", "Ex-PTM", "--aux", "BioNLP13PC", *TINY, *ONE_ROUND]
    out = tmp_path / "grid"
    train_here(monkeypatch)
    # the reference trained with TensorFlow's default threads; so do these workers (by
    # default two workers would take one thread each, and round-off would differ)
    monkeypatch.setattr(executors, "worker_threads", lambda workers, cpus=None: None)
    assert pairwise_cli(*args, "--out", str(out), "--executor", "pool", "--workers", "2") == 0
    records = lines(out / "results.jsonl")
    assert sorted(r.cell for r in records) == sorted(cell_key(r) for r in grid_runs(args))
    for record in records:
        assert record.test_f1 == reference[record.cell].test_f1


def test_pool_worker_i_gets_gpu_i_mod_n():
    gpus = executors.visible_gpus({"CUDA_VISIBLE_DEVICES": "2,3,5"})
    assert gpus == ["2", "3", "5"]
    assert [executors.gpu_for_worker(i, gpus) for i in range(5)] == ["2", "3", "5", "2", "3"]
    assert executors.gpu_for_worker(0, []) is None
    assert executors.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert executors.visible_gpus({"CUDA_VISIBLE_DEVICES": "0,-1,1"}) == ["0"]  # as CUDA does


def test_pool_worker_initializer_pins_its_gpu(monkeypatch):
    import multiprocessing

    counter = multiprocessing.get_context("spawn").Value("i", 0)
    monkeypatch.setattr(executors.logging, "basicConfig", lambda **kwargs: None)
    monkeypatch.setattr(executors, "_exit_with", lambda parent: None)  # no watcher thread here
    # set through monkeypatch first, so that the variables _init_worker writes are undone
    # (a later test on this worker would otherwise see a GPU)
    monkeypatch.setenv("TF_FORCE_GPU_ALLOW_GROWTH", "")
    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    seen = []
    for _ in range(3):
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        executors._init_worker(counter, [["0"], ["1"]], True, 30, 1)
        seen.append(executors.os.environ["CUDA_VISIBLE_DEVICES"])
    assert seen == ["0", "1", "0"] and counter.value == 3
    assert executors.os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"  # 3 workers, 2 GPUs


@pytest.mark.parametrize(
    ("kind", "workers", "address", "message"),
    [
        ("dask", 1, None, "unknown executor 'dask'; valid: auto, inprocess, pool, ray"),
        ("pool", 0, None, "--workers 0: need at least one worker"),
        ("inprocess", 2, None, "--workers 2 trains cells side by side: add --executor pool"),
        ("pool", 2, "10.0.0.1:6379", "only --executor ray joins a cluster"),
    ],
)
def test_bad_executor_settings(kind, workers, address, message):
    with pytest.raises(InputError, match=message):
        executors.make_executor(kind, workers, address)


def test_missing_ray_is_one_line_with_the_install_command(monkeypatch, tmp_path, capsys):
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(InputError, match="pip install -r requirements-ray.txt"):
        executors.make_executor("ray", 2)
    assert pairwise_cli(*GRID, "--out", str(tmp_path), "--executor", "ray") == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: --executor ray needs Ray, which is not installed: "
                   "pip install -r requirements-ray.txt")


def test_pool_workers_share_the_cores_out():
    assert executors.worker_threads(2, cpus=2) == 1
    assert executors.worker_threads(2, cpus=8) == 4
    assert executors.worker_threads(3, cpus=2) == 1
    assert executors.worker_threads(1, cpus=8) is None  # one worker: TensorFlow's default


def test_auto_trains_several_cells_side_by_side_and_one_cell_here(monkeypatch):
    used = []
    monkeypatch.setattr(executors.Pool, "map_cells",
                        lambda self, runs, on_result, progress: used.append(("pool", self.workers)))
    monkeypatch.setattr(executors.InProcess, "map_cells",
                        lambda self, runs, on_result, progress: used.append(("here", 1)))
    monkeypatch.delenv("BIONER_EXECUTOR", raising=False)
    a, b, c = (RunConfig(main="Ex-PTM", seed=seed) for seed in (1, 2, 3))
    auto = executors.make_executor("auto", 2)
    auto.map_cells([a, b, c], None, False)
    auto.map_cells([a], None, False)
    monkeypatch.setenv("BIONER_EXECUTOR", "inprocess")
    auto.map_cells([a, b], None, False)
    assert used == [("pool", 2), ("here", 1), ("here", 1)]


def test_resume_counts_each_cell_once(tmp_path, reference, caplog):
    """A baseline's cell is in the run list once per partner row: the resume line counts
    cells, not rows (it said '162 of 360 cells already finished' of a fresh 198-cell grid)."""
    runs = grid_runs(GRID)
    doubled = [*runs, runs[0]]  # the baseline listed twice, as a grid of rows does
    results = ResultsFile(tmp_path / "results.jsonl")
    results.append(reference[cell_key(runs[0])])  # one of three cells finished
    train_here_calls = []
    executor = executors.make_executor("inprocess")
    executor.map_cells = lambda todo, finish, progress: train_here_calls.extend(todo)
    caplog.set_level("INFO", logger="bioner_mtl.training.grids.grid")
    with pytest.raises(InputError):  # the fake executor trained nothing: cells are missing
        run_cells(doubled, results, progress=False, executor=executor)
    assert len(train_here_calls) == 2
    assert "1 of 3 cells already finished" in caplog.text
