"""Where a grid's cells train: in this process, in a local process pool, or on Ray.

Every grid hands its unfinished cells to one executor. An executor calls
`train_run(run, progress=False)` for each cell somewhere and calls
`on_result(run, record)` in THIS process as each cell finishes, in completion order, so the
caller appends every record to its results file at once: a killed grid loses only the cells
still in flight, and `--resume` works the same whatever trained the cells.

- inprocess (default): one cell after another in this process, as before;
- pool: a local pool of `workers` processes (spawned, so each starts TensorFlow afresh), one
  cell at a time each; with several GPUs visible, worker i sees only GPU i % n;
- ray: Ray tasks, one CPU (and one GPU where the cluster has GPUs) each, on a local instance
  of `workers` CPUs or on the cluster at `address`. Ray is optional: requirements-ray.txt.

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


def train_cell(run: RunConfig) -> dict:
    """One cell in a worker (pool process or Ray task): its results record. A Ray task starts
    TensorFlow here, quietly unless BIONER_VERBOSE (--verbose) is set."""
    quiet_tensorflow.install()
    return train_run(run, progress=False)


def train_run(run: RunConfig, progress: bool = True) -> dict:
    """Train one run here; write its model bundle when the run asks for one (save_bundle): the
    trainer fits, the product side saves, so fitting never imports the product side."""
    from bioner_mtl.training.fit.trainer import Trainer

    trainer = Trainer(run, progress)
    record = trainer.fit()
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


def _init_worker(counter, gpus: list[str], shared: bool, level: int, parent: int,
                 threads: int | None = None, verbose: bool = False) -> None:
    """Pool worker start-up: take the next worker number and pin its GPU before TensorFlow
    creates any device (spawned workers may have imported TensorFlow through the main script,
    but CUDA reads CUDA_VISIBLE_DEVICES only when TensorFlow first initialises its devices);
    TensorFlow starts without its start-up lines unless verbose."""
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    quiet_tensorflow.install(verbose)
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    gpu = gpu_for_worker(index, gpus)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        if shared:  # several workers on one GPU: take memory as needed, not all of it
            os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
        if "tensorflow" in sys.modules:
            from tensorflow.python.eager import context

            if getattr(context.context(), "_initialized", False):  # too late: CUDA read it
                log.warning("pool worker %d: TensorFlow devices exist already; GPU %s not "
                            "pinned", index, gpu)
    if threads:
        import tensorflow as tf  # before any op runs, so the setting takes

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)


class Pool:
    """A local process pool: `workers` spawned processes, one cell at a time each."""

    def __init__(self, workers: int):
        self.workers = workers

    def map_cells(self, runs: list[RunConfig], on_result: OnResult, progress: bool) -> None:
        if not runs:
            return
        import multiprocessing

        warm_vectors(runs)
        context = multiprocessing.get_context("spawn")
        gpus = visible_gpus()
        workers = min(self.workers, len(runs))
        log.info("pool: %d worker processes%s", workers,
                 f" on GPUs {','.join(gpus)}" if gpus else "")
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_init_worker,
            initargs=(context.Value("i", 0), gpus, workers > len(gpus), logging.WARNING,
                      os.getpid(), None if gpus else worker_threads(workers),
                      quiet_tensorflow.verbose_requested()))
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
            gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
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
