"""Training curves for TensorBoard (`--tensorboard DIR`): each cell writes its own run folder,
DIR/<corpora>-<model>-seed<N>-<cell key>, and at each of the trainer's evaluation points the
mean loss of every task trained since the last point (`loss/TASK`), the devel F1 (`devel_f1/
MAIN`, with select_on mean every head's and `devel_f1/mean`), the learning rate and the
training steps per second since the last point (devel evaluation left out), against the step.

Written with tf.summary.write in TensorBoard's scalar format (what tf.summary.scalar writes,
without needing the tensorboard package, which only reading them does: `pip install
tensorboard`, then `tensorboard --logdir DIR`). A run without a directory gets no logger and
pays nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from bioner_mtl.training.fit.results import cell_key
from bioner_mtl.training.spec.config import RunConfig

# TensorBoard's scalars plugin reads a float32 scalar tensor with this metadata as a scalar
SCALAR = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
    data_class=summary_pb2.DATA_CLASS_SCALAR)
LABEL_CHARACTERS = 100  # of a run folder's readable part (a long partner list is cut)


def shown(task: str) -> str:
    """A task's name in a tag or folder name (a corpus given as a directory: its name)."""
    return Path(task).name or task


def run_folder(run: RunConfig) -> str:
    """The cell's run folder: its corpora, model and seed to read, its cell key to tell it
    apart (the key alone decides: two cells never share a folder)."""
    label = f"{'+'.join(shown(t) for t in run.tasks)}-{run.model}-seed{run.seed}"
    return f"{label[:LABEL_CHARACTERS]}-{cell_key(run)}"


def open_logger(run: RunConfig, optimizer) -> CurveLogger | None:
    """The cell's logger, None when the run asks for no curves."""
    if not run.tensorboard:
        return None
    return CurveLogger(Path(run.tensorboard) / run_folder(run), run.main, optimizer)


class CurveLogger:
    """Called by the trainer: `step` after every training step (the loss tensor is kept, not
    read), `point` at every evaluation point with its history entry, `close` at the end."""

    def __init__(self, directory: Path, main: str, optimizer):
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.main, self.optimizer = directory, main, optimizer
        self.writer = tf.summary.create_file_writer(str(directory))
        self.losses: dict[str, list] = {}
        self.since, self.last_step = time.perf_counter(), 0
        self.stepped = self.since

    def step(self, task: str, loss) -> None:
        self.losses.setdefault(task, []).append(loss)
        self.stepped = time.perf_counter()

    def point(self, entry: dict) -> None:
        """Write the curves' values at `entry['step']` (the trainer's history entry)."""
        step = entry["step"]
        values = {f"loss/{shown(task)}": float(np.mean([float(x) for x in losses]))
                  for task, losses in self.losses.items() if losses}
        heads = entry.get("devel_heads_f1") or (
            {self.main: entry["devel_f1"]} if "devel_f1" in entry else {})
        values.update({f"devel_f1/{shown(task)}": f1 for task, f1 in heads.items()})
        if "devel_mean_f1" in entry:
            values["devel_f1/mean"] = entry["devel_mean_f1"]
        values["learning_rate"] = float(self.optimizer.learning_rate)
        seconds = self.stepped - self.since
        if step > self.last_step and seconds > 0:
            values["steps_per_second"] = (step - self.last_step) / seconds
        with self.writer.as_default(step=step):
            for tag, value in values.items():
                tf.summary.write(tag, tf.constant(value, tf.float32), metadata=SCALAR)
        self.writer.flush()
        self.losses = {}
        self.since, self.last_step = time.perf_counter(), step

    def close(self) -> None:
        self.writer.close()
