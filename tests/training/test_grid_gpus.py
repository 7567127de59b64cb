"""Grids of data-parallel cells (--gpus N): each pool worker gets its own group of N devices,
checked on logical CPU devices standing in for GPUs (as tests/training/test_distributed.py
checks one data-parallel run), and the groups themselves."""

import pytest

from bioner_mtl.data.errors import InputError
from bioner_mtl.training.grids import executors
from bioner_mtl.training.spec.config import RunConfig, TrainConfig


def tiny(seed: int, gpus: int = 2) -> RunConfig:
    return RunConfig(main="Ex-PTM", seed=seed, gpus=gpus, vector_dim=8, vector_corpora="run",
                     devel_limit=30, test_limit=30, train_fraction=0.1,
                     model_options={"filters": 4, "hidden": 8, "dropout": 0.0},
                     train=TrainConfig(optimizer="sgd", learning_rate=0.5, batch_size=8,
                                       steps=4, eval_every=4))


def test_visible_devices_are_cut_into_groups_of_the_cells_gpus():
    ids = ["2", "3", "5", "7", "9"]
    assert executors.device_groups(ids, 2) == [["2", "3"], ["5", "7"]]  # "9" left over
    assert executors.device_groups(ids, 1) == [[i] for i in ids]
    assert executors.device_groups([], 1) == []  # one-device cells on the CPU
    with pytest.raises(InputError, match=r"^--gpus 4: 2 GPU\(s\) visible to this grid"):
        executors.device_groups(["0", "1"], 4)
    assert executors.cell_gpus([tiny(1), tiny(2)]) == 2


def test_each_pool_worker_pins_its_own_group(monkeypatch):
    import multiprocessing

    counter = multiprocessing.get_context("spawn").Value("i", 0)
    monkeypatch.setattr(executors.logging, "basicConfig", lambda **kwargs: None)
    monkeypatch.setattr(executors, "_exit_with", lambda parent: None)
    # set through monkeypatch first, so that the variables _init_worker writes are undone
    monkeypatch.setenv("TF_FORCE_GPU_ALLOW_GROWTH", "")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    seen = []
    for _ in range(3):
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        executors._init_worker(counter, [["0", "1"], ["2", "3"]], True, 30, 1)
        seen.append((executors.os.environ["CUDA_VISIBLE_DEVICES"], executors._WORKER_DEVICES))
    pair = ["/gpu:0", "/gpu:1"]  # a worker sees only its group, renumbered from 0
    assert seen == [("0,1", pair), ("2,3", pair), ("0,1", pair)]
    monkeypatch.setattr(executors, "_WORKER_DEVICES", None)


def test_auto_trains_data_parallel_cells_here_when_one_group_fits(monkeypatch):
    monkeypatch.delenv("BIONER_EXECUTOR", raising=False)
    monkeypatch.setattr(executors, "visible_gpus", lambda: ["0", "1", "2"])  # one group of 2
    used = []
    monkeypatch.setattr(executors.InProcess, "map_cells",
                        lambda self, runs, on_result, progress: used.append("inprocess"))
    monkeypatch.setattr(executors.Pool, "map_cells",
                        lambda self, runs, on_result, progress: used.append(self.workers))
    executors.Auto(4).map_cells([tiny(1), tiny(2)], None, False)
    monkeypatch.setattr(executors, "visible_gpus", lambda: ["0", "1", "2", "3"])  # two groups
    executors.Auto(4).map_cells([tiny(1), tiny(2), tiny(3)], None, False)
    monkeypatch.setattr(executors, "visible_gpus", lambda: ["0"])
    with pytest.raises(InputError, match="--gpus 2: 1 GPU"):
        executors.Auto(4).map_cells([tiny(1), tiny(2)], None, False)
    assert used == ["inprocess", 2]


def test_a_pool_trains_each_cell_on_its_workers_two_devices(bioner_cache, monkeypatch):
    """Two spawned workers, each given two of four logical CPU devices: every cell trains
    data-parallel on two replicas (its record says so) and finishes."""
    monkeypatch.setenv("BIONER_CACHE", str(bioner_cache))
    pool = executors.Pool(2, executors.Devices(("0", "1", "2", "3"), kind="CPU"))
    records = []
    pool.map_cells([tiny(1), tiny(2)], lambda run, record: records.append(record), False)
    assert sorted(r.seed for r in records) == [1, 2]
    assert {r.device for r in records} == {"CPU x2"}
    assert {r.steps for r in records} == {4}
