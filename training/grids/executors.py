"""Where a grid's cells train: in this process, in a local process pool, or on Ray.

Every grid hands its unfinished cells to one executor. An executor calls
`train_run(run, progress=False)` for each cell somewhere and calls
`on_result(run, record)` in THIS process as each cell finishes, in completion order, so the
caller appends every record to its results file at once: a killed grid loses only the cells
still in flight, and `--resume` works the same whatever trained the cells.

- inprocess (default): one cell after another in this process, as before;
- pool: a local pool of `workers` processes (spawned, so each starts TensorFlow afresh), one
  cell at a time each; with GPUs visible, the GPUs are cut into groups of the cells' --gpus
  (one GPU each by default) and worker i sees only group i % n, so a data-parallel cell
  finds its N GPUs in its worker (`device_groups`);
- ray: Ray tasks, one CPU (and --gpus GPUs where the cluster has GPUs) each, on a local
  instance of `workers` CPUs or on the cluster at `address`. Ray is optional:
  requirements-ray.txt.

A cell is driven by its own seed, so it gives the same numbers wherever it trains, provided
the word vectors it uses are the same: trained word2vec vectors are cached on disk and reused
(gensim's two threads make a fresh training differ slightly), so the executors train each
vector set once in this process before handing cells out, as the in-process loop does.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import bioner_mtl
from bioner_mtl.data.errors import InputError
from bioner_mtl.training import quiet_tensorflow
from bioner_mtl.training.spec.config import RunConfig

log = logging.getLogger(__name__)

EXECUTORS = ("auto", "inprocess", "pool", "ray")
AUTO_MAX_WORKERS = 4  # each worker holds its own TensorFlow (about 1-2 GB resident)
RAY_HINT = "pip install -r requirements-ray.txt"
ROOT = Path(bioner_mtl.__file__).resolve().parents[1]  # where workers import bioner_mtl from

OnResult = Callable[[RunConfig, dict], None]


class Executor(Protocol):
    workers: int

    def map_cells(self, runs: list[RunConfig], on_result: OnResult, progress: bool) -> None:
        """Train every run; call on_result(run, record) here as each one finishes."""


_WORKER_DEVICES: list[str] | None = None  # a pool worker's devices for its cells (its group)


def train_cell(run: RunConfig) -> dict:
    """One cell in a worker (pool process or Ray task): its results record. A Ray task starts
    TensorFlow here, quietly unless BIONER_VERBOSE (--verbose) is set."""
    quiet_tensorflow.install()
    return train_run(run, progress=False, devices=_WORKER_DEVICES)


def train_run(run: RunConfig, progress: bool = True, devices: list[str] | None = None) -> dict:
    """Train one run here (data-parallel over `devices` when given, else over the first
    run.gpus GPUs); write its model bundle when the run asks for one (save_bundle): the
    trainer fits, the product side saves, so fitting never imports the product side. A
    data-parallel run's record says on how many replicas it trained ('GPU x2'); a model with
    TONG's auxiliary heads has each head's own accuracy in `aux_heads`."""
    import dataclasses

    from bioner_mtl.training.fit.aux_heads import aux_accuracy
    from bioner_mtl.training.fit.trainer import Trainer

    trainer = Trainer(run, progress, devices=devices)
    record = trainer.fit()
    if trainer.strategy is not None:
        replicas = trainer.strategy.num_replicas_in_sync
        record = dataclasses.replace(record, device=f"{record.device} x{replicas}")
    aux = aux_accuracy(trainer)  # TONG's auxiliary heads, each scored on its own
    if aux is not None:
        record = dataclasses.replace(record, aux_heads=aux)
    if run.save_bundle:
        from bioner_mtl.training.product.bundle import save_bundle

        save_bundle(trainer, run.save_bundle)
        log.info("model bundle written to %s", run.save_bundle)
    return record


def warm_vectors(runs: list[RunConfig]) -> None:
    """Train (or load) every word2vec vector set the runs use, once, into the on-disk cache,
    so concurrent workers read the same vectors instead of each training its own."""
    from bioner_mtl.training.fit.word_features import word_vectors
    from bioner_mtl.training.spec.catalogue import get_model

    for run in runs:  # word_vectors memoises and caches on disk: repeats cost nothing
        spec = get_model(run.model)
        if spec.featurizer == "words" and run.vectors == "trained":
            word_vectors(run, (*run.tasks, *spec.pretrain_tasks))


# ----- in this process ---------------------------------------------------------------------
class InProcess:
    """Today's behaviour: one cell after another, here."""

    workers = 1

    def map_cells(self, runs: list[RunConfig], on_result: OnResult, progress: bool) -> None:
        if not runs:
            return
        for run in runs:  # train_run is looked up per call: tests may replace it
            on_result(run, train_run(run, progress=progress))


# ----- a local process pool ----------------------------------------------------------------
def visible_gpus(environ: dict[str, str] | None = None) -> list[str]:
    """The GPU ids this process may use, without importing TensorFlow: CUDA_VISIBLE_DEVICES
    where set (CUDA stops at the first negative id), else the GPUs nvidia-smi lists."""
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        ids = []
        for item in environ["CUDA_VISIBLE_DEVICES"].split(","):
            item = item.strip()
            if not item or item.startswith("-"):
                break
            ids.append(item)
        return ids
    if not shutil.which("nvidia-smi"):
        return []
    try:
        listed = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listed.splitlines() if line.strip()]


def gpu_for_worker(index: int, gpus: list[str]) -> str | None:
    """Worker `index` gets GPU index % n of the visible ones; None without GPUs."""
    return gpus[index % len(gpus)] if gpus else None


def cell_gpus(runs: list[RunConfig]) -> int:
    """The devices one cell of these runs trains on (--gpus; one grid gives all its cells
    the same)."""
    return max((run.gpus for run in runs), default=1)


def device_groups(visible: list[str], per_cell: int) -> list[list[str]]:
    """The visible devices cut into disjoint groups of `per_cell`, one group per pool worker
    (a spare device left over is not used); [] without devices for one-device cells, which
    then train on the CPU. A data-parallel cell needing more devices than are visible is
    refused here, before any worker starts."""
    if per_cell > 1 and len(visible) < per_cell:
        raise InputError(f"--gpus {per_cell}: {len(visible)} GPU(s) visible to this grid "
                         "(CUDA_VISIBLE_DEVICES or nvidia-smi); ask for at most that many")
    size = max(1, per_cell)
    return [visible[i:i + size] for i in range(0, len(visible) - size + 1, size)]


@dataclass(frozen=True)
class Devices:
    """The devices a pool hands out to its workers: ids and their kind. 'GPU' ids are CUDA's
    (the worker sees only its group, renumbered from 0); 'CPU' splits each worker's CPU into
    as many logical devices as its group has ids, which is how the placement is tested on a
    machine without GPUs (tests/training/test_grid_gpus.py)."""

    ids: tuple[str, ...]
    kind: str = "GPU"

    def names(self, count: int) -> list[str] | None:
        """A worker's device names for a group of `count`; None for one device (no
        MirroredStrategy)."""
        return [f"/{self.kind.lower()}:{i}" for i in range(count)] if count > 1 else None


def _exit_with(parent: int) -> None:
    """A worker whose parent was killed (SIGTERM, SIGKILL) would wait for work forever."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def worker_threads(workers: int, cpus: int | None = None) -> int | None:
    """TensorFlow threads per pool worker: the cores shared out, so workers do not fight over
    them (2 workers x 2 threads on 2 cores is slower than 2 x 1); None keeps TF's default."""
    cpus = cpus or os.cpu_count() or 1
    return max(1, cpus // workers) if workers > 1 else None


def _init_worker(counter, groups: list[list[str]], shared: bool, level: int, parent: int,
                 threads: int | None = None, verbose: bool = False,
                 kind: str = "GPU") -> None:
    """Pool worker start-up: take the next worker number and pin its group of GPUs before
    TensorFlow creates any device (spawned workers may have imported TensorFlow through the
    main script, but CUDA reads CUDA_VISIBLE_DEVICES only when TensorFlow first initialises
    its devices); TensorFlow starts without its start-up lines unless verbose."""
    global _WORKER_DEVICES
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    quiet_tensorflow.install(verbose)
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    group = groups[index % len(groups)] if groups else None
    if group is not None and kind == "CPU":  # logical CPU devices stand in for GPUs
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in group])
    elif group is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(group)
        if shared:  # several workers on one GPU: take memory as needed, not all of it
            os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
        if "tensorflow" in sys.modules:
            from tensorflow.python.eager import context

            if getattr(context.context(), "_initialized", False):  # too late: CUDA read it
                log.warning("pool worker %d: TensorFlow devices exist already; GPU(s) %s not "
                            "pinned", index, ",".join(group))
    if group is not None:
        _WORKER_DEVICES = Devices(tuple(group), kind).names(len(group))
    if threads:
        import tensorflow as tf  # before any op runs, so the setting takes

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)


class Pool:
    """A local process pool: `workers` spawned processes, one cell at a time each, each
    worker on its own group of the cells' --gpus GPUs (`devices`: the visible GPUs unless
    given)."""

    def __init__(self, workers: int, devices: Devices | None = None):
        self.workers, self.devices = workers, devices

    def map_cells(self, runs: list[RunConfig], on_result: OnResult, progress: bool) -> None:
        if not runs:
            return
        import multiprocessing

        devices = self.devices or Devices(tuple(visible_gpus()))
        groups = device_groups(list(devices.ids), cell_gpus(runs))  # too few: stops here
        warm_vectors(runs)
        context = multiprocessing.get_context("spawn")
        workers = min(self.workers, len(runs))
        log.info("pool: %d worker processes%s", workers,
                 f" on {devices.kind}s {' '.join(','.join(g) for g in groups)}"
                 if groups else "")
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_init_worker,
            initargs=(context.Value("i", 0), groups, workers > len(groups), logging.WARNING,
                      os.getpid(), None if groups else worker_threads(workers),
                      quiet_tensorflow.verbose_requested(), devices.kind))
        try:
            pending = {pool.submit(train_cell, run): run for run in runs}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    run = pending.pop(future)
                    on_result(run, future.result())
        except BaseException:
            # A failed cell or an interrupt: stop at once, as the in-process loop does, rather
            # than train the rest without recording it. Finished cells are already written.
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()


class Auto:
    """The default: cells side by side in a local pool, one worker per core (at most
    AUTO_MAX_WORKERS), when there are several cells and cores; otherwise here. The
    environment variable BIONER_EXECUTOR=inprocess|pool turns it into one of those."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or min(os.cpu_count() or 1, AUTO_MAX_WORKERS)
        if os.environ.get("BIONER_EXECUTOR", "") not in ("", "inprocess", "pool"):
            raise InputError(f"BIONER_EXECUTOR={os.environ['BIONER_EXECUTOR']!r}: set it to "
                             "inprocess or pool, or unset it (--executor chooses too)")

    def map_cells(self, runs: list[RunConfig], on_result: OnResult, progress: bool) -> None:
        forced = os.environ.get("BIONER_EXECUTOR", "")
        workers = min(self.workers, len(runs))
        if cell_gpus(runs) > 1:  # data-parallel cells: one worker per group of --gpus GPUs
            workers = min(workers, len(device_groups(visible_gpus(), cell_gpus(runs))))
        if forced == "inprocess" or (forced != "pool" and workers < 2):
            return InProcess().map_cells(runs, on_result, progress)
        return Pool(max(workers, 1)).map_cells(runs, on_result, progress)


# ----- Ray ---------------------------------------------------------------------------------
def import_ray():
    try:
        import ray
    except ImportError:
        raise InputError(f"--executor ray needs Ray, which is not installed: {RAY_HINT}") from None
    return ray


class Ray:
    """Ray tasks on a local instance (`workers` CPUs, this machine only) or on a cluster."""

    def __init__(self, workers: int, address: str | None):
        self.workers, self.address = workers, address
        import_ray()

    def _init(self, ray) -> bool:
        """Start or join Ray unless this process already did; True if we must shut it down."""
        if ray.is_initialized():
            return False
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no reports leave the machine
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        env = {"PYTHONPATH": path}
        if quiet_tensorflow.verbose_requested():  # tasks keep TensorFlow's start-up lines
            env[quiet_tensorflow.VERBOSE_ENV] = "1"
        options = {"include_dashboard": False, "configure_logging": False,
                   "runtime_env": {"env_vars": env}}
        if self.address:
            log.info("ray: joining the cluster at %s", self.address)
            ray.init(address=self.address, **options)
        else:
            log.info("ray: local instance with %d CPUs", self.workers)
            ray.init(num_cpus=self.workers, object_store_memory=256 * 1024**2, **options)
        return True

    def map_cells(self, runs: list[RunConfig], on_result: OnResult, progress: bool) -> None:
        if not runs:
            return
        ray = import_ray()
        if not self.address:
            warm_vectors(runs)  # a cluster's workers do not share this machine's cache
        started = self._init(ray)
        pending = {}
        try:
            found, wanted = ray.cluster_resources().get("GPU", 0), cell_gpus(runs)
            if found >= 1 and found < wanted:
                raise InputError(f"--gpus {wanted}: the Ray cluster has {found:g} GPU(s); ask "
                                 "for at most that many")
            gpus = wanted if found >= 1 else 0  # Ray sets each task's CUDA_VISIBLE_DEVICES
            task = ray.remote(num_cpus=1, num_gpus=gpus)(train_cell)
            pending = {task.remote(run): run for run in runs}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    run = pending.pop(ref)
                    try:
                        record = ray.get(ref)
                    except ray.exceptions.RayTaskError as err:
                        cause = getattr(err, "cause", None)  # the worker's own exception
                        if isinstance(cause, Exception):
                            raise cause from None
                        raise
                    on_result(run, record)
        except BaseException:
            for ref in pending:  # stop at once, as the in-process loop does
                ray.cancel(ref, force=True)
            raise
        finally:
            if started:
                ray.shutdown()


def make_executor(kind: str = "inprocess", workers: int | None = 1,
                  address: str | None = None) -> Executor:
    """The executor named on the command line (--executor, --workers, --address)."""
    if kind not in EXECUTORS:
        raise InputError(f"unknown executor {kind!r}; valid: {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise InputError(f"--workers {workers}: need at least one worker")
    if address and kind != "ray":
        raise InputError(f"--address {address}: only --executor ray joins a cluster")
    if kind == "auto":
        return Auto(workers)
    workers = workers or 1
    if kind == "inprocess":
        if workers > 1:
            raise InputError(f"--workers {workers} trains cells side by side: add --executor "
                             "pool (this machine) or --executor ray")
        return InProcess()
    if kind == "pool":
        return Pool(workers)
    return Ray(workers, address)
