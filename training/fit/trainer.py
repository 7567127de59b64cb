"""The one training harness: every model family, every schedule, one code path.

A run is a main corpus plus auxiliary corpora. The harness loads and encodes the data,
builds the model named in the registry, trains it with the chosen schedule, evaluates the
main task (or the mean over every head) on devel at a fixed interval, keeps the best weights,
and returns one results record with devel and test scores (with and without constrained
Viterbi). A train+devel run trains on devel too, for a fixed length, and is scored on test.

The loop is our own rather than `fit()` because each step trains one task chosen by the
schedule; each task gets one compiled step function, and the optimizer sees one model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import re
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from bioner_mtl.data import corpora
from bioner_mtl.data.ablation import subsample
from bioner_mtl.data.errors import InputError
from bioner_mtl.models.base import TaggerModel
from bioner_mtl.training.fit.averaging import WeightAverage
from bioner_mtl.training.fit.batches import BatchStream, EncodedSplit, TagSet
from bioner_mtl.training.fit.decoding import Transitions
from bioner_mtl.training.fit.evaluation import evaluate, mentions, selection_f1, unit_counts
from bioner_mtl.training.fit.inference import Predictor, signature_of
from bioner_mtl.training.fit.results import RunRecord, versions
from bioner_mtl.training.fit.tensorboard import open_logger
from bioner_mtl.training.spec.catalogue import get_model
from bioner_mtl.training.spec.config import RunConfig
from bioner_mtl.training.spec.feasible import check_entities
from bioner_mtl.training.spec.presets import check_run, single_task
from bioner_mtl.training.spec.schedules import get_schedule

log = logging.getLogger(__name__)


@dataclass
class Task:
    name: str
    tagset: TagSet
    transitions: Transitions
    train: EncodedSplit
    devel: EncodedSplit
    test: EncodedSplit


def stream_rng(seed: int, stream: str) -> np.random.Generator:
    """One random stream per purpose (a task's batch order, the schedule, pretraining), so a
    partner's batches never shift the main corpus's: the cells of one seed see the same main
    batches in the same order."""
    return np.random.default_rng([seed, zlib.crc32(stream.encode())])


def variable_keys(model: keras.Model) -> dict[tuple[str, int], object]:
    """Variables by path with Keras's per-process layer counters removed ('dropout_3' ->
    'dropout'), numbered in creation order where that leaves two alike."""
    seen: Counter = Counter()
    keyed = {}
    for variable in model.variables:
        path = re.sub(r"_\d+(?=/|$)", "", variable.path)
        seen[path] += 1
        keyed[(path, seen[path])] = variable
    return keyed


def copy_shared_start(source: keras.Model, target: keras.Model) -> int:
    """Give `target` the initial value of every variable `source` has too (same key, same
    shape): the partner's model starts where the baseline's does. Returns how many."""
    mine = variable_keys(target)
    copied = 0
    for key, variable in variable_keys(source).items():
        twin = mine.get(key)
        if twin is not None and tuple(twin.shape) == tuple(variable.shape):
            twin.assign(variable.value)
            copied += 1
    return copied


def resampling_unit(sentences) -> str:
    """What the bootstrap resamples: documents where the split marks them, else sentences."""
    return "document" if len({s.document for s in sentences}) > 1 else "sentence"


def resampling_ids(sentences) -> list[int]:
    if resampling_unit(sentences) == "sentence":
        return list(range(len(sentences)))
    ids: dict[int, int] = {}
    return [ids.setdefault(s.document, len(ids)) for s in sentences]


def load_tasks(run: RunConfig, names: tuple[str, ...]) -> dict[str, tuple[corpora.Corpus, list]]:
    """Corpora of the run with the main corpus's training split cut to the fraction. With
    train_on 'train+devel' each corpus of the run (main and partners, not a pretraining task)
    trains on its devel split too, after the cut: the fraction keeps the same training
    sentences as the devel-selected run of the seed, and the whole devel split joins them."""
    loaded = {}
    for name in names:
        corpus = corpora.load_corpus(name)
        train = corpus.train
        if name == run.main:
            train = subsample(train, run.train_fraction, run.seed)
        if run.train_on == "train+devel" and name in run.tasks:
            if not corpus.devel:
                raise InputError(f"{name}: no devel sentences to train on; --train-on "
                                 "train+devel needs a corpus with a devel split")
            train = [*train, *corpus.devel]
        loaded[name] = (corpus, train)
    return loaded


class LinearWarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """BERT's schedule: linear warm-up to the peak rate, then linear decay to zero."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        self.peak, self.warmup_steps, self.total_steps = peak, warmup_steps, total_steps

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = step / max(1, self.warmup_steps)
        decay = (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps)
        return self.peak * keras.ops.maximum(0.0, keras.ops.minimum(warm, decay))

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps}


def data_parallel(gpus: int, devices: list[str] | None = None):
    """A MirroredStrategy over `gpus` GPUs (or the given devices), None for one device."""
    if devices is None:
        if gpus <= 1:
            return None
        found = tf.config.list_logical_devices("GPU")
        if len(found) < gpus:
            raise InputError(f"--gpus {gpus}: TensorFlow sees {len(found)} GPU(s); ask for at "
                             "most that many")
        devices = [d.name for d in found[:gpus]]
    return tf.distribute.MirroredStrategy(devices) if len(devices) > 1 else None


class Trainer:
    """Holds one run: data, model, optimizer, per-task compiled steps.

    `fast` (default) takes the cheaper paths of issue 24 that compute the same numbers: devel
    evaluations score only the selection F1 against gold mentions read once, and every score
    uses our mention readers instead of seqeval's (tests hold both equal). fast=False is the
    path before them, kept for experiments/cell_time.py's before-and-after benchmark; it is not
    part of a run's configuration because it changes no number.
    """

    def __init__(self, run: RunConfig, progress: bool = True,
                 devices: list[str] | None = None, fast: bool = True):
        check_run(run)
        self.run, self.progress, self.fast = run, progress, fast
        self.engine = "fast" if fast else "seqeval"
        self._gold_mentions: dict[tuple[str, str], set] = {}
        self.spec = get_model(run.model)
        keras.utils.set_random_seed(run.seed)
        self.model_config = self.spec.model_config(run.model_options)
        loaded = load_tasks(run, (*run.tasks, *self.spec.pretrain_tasks))
        check_entities(run)  # commands check their users' corpora; this, every corpus
        self.strategy = data_parallel(run.gpus, devices)
        with self.strategy.scope() if self.strategy else contextlib.nullcontext():
            self.featurizer = self.spec.featurizer_class().for_run(
                run, self.model_config, loaded, self.spec.needs_chars)
            self.tasks = {name: self._task(name, corpus, train) for name, (corpus, train)
                          in loaded.items()}
            self.model = self._built({n: len(t.tagset.labels) for n, t in self.tasks.items()})
            if run.aux:  # paired design: start from the single-task model's initial weights
                baseline = self._baseline_twin()
                log.info("paired start: %d variables as the single-task model's",
                         copy_shared_start(baseline, self.model))
                del baseline
            self.model.build_with_vectors()
            if run.init_encoder:
                self._encoder().load_weights(run.init_encoder)
                log.info("encoder initialised from %s", run.init_encoder)
            self.total_steps = self._plan()[2]
            self.optimizer = self._optimizer()
            self.optimizer.build(self.model.trainable_variables)
            self.average = (WeightAverage(self.model.trainable_variables, run.train.ema)
                            if run.train.ema else None)
        self._steps = {name: self._compile_step(name) for name in self.tasks}
        # devel/test scoring: the same passes and decoding as a loaded bundle's
        self.predictor = Predictor(self.model, self.tasks, self._signature("devel"))

    # ----- setup -------------------------------------------------------------------------
    def _task(self, name: str, corpus: corpora.Corpus, train: list) -> Task:
        if not train:
            raise InputError(f"{name}: the training split is empty after subsampling")
        scheme = "plain" if corpus.spec.kind == "pos" else self.run.tag_scheme
        tagset = TagSet.from_sentences(train, scheme)
        devel = corpus.devel[: self.run.devel_limit] if self.run.devel_limit else corpus.devel
        encode = self.featurizer.encode
        encoded = encode(train, tagset)
        transitions = Transitions.from_sequences((tagset.ids(s.tags) for s in train),
                                                 len(tagset.labels))
        test = corpus.test[: self.run.test_limit] if self.run.test_limit else corpus.test
        return Task(name, tagset, transitions, encoded, encode(devel, None), encode(test, None))

    def _baseline_twin(self) -> TaggerModel:
        """The model the grid's single-task cell of this seed builds (same family, or the
        spec's baseline such as bilstm-crf for cross-sharing), with its initial weights."""
        run = single_task(self.run)
        spec = get_model(run.model)
        alone = (run.main, *spec.pretrain_tasks)
        return self._built({n: len(self.tasks[n].tagset.labels) for n in alone}, spec,
                           spec.model_config(run.model_options))

    def _built(self, tasks: dict[str, int], spec=None, config=None) -> TaggerModel:
        """The model for `tasks`, every variable created up front from a sample training
        batch per task (`build_from_batches`). The seed is set again first: the same tasks
        always start from the same values."""
        keras.utils.set_random_seed(self.run.seed)
        spec, config = spec or self.spec, config or self.model_config
        model = spec.build(config, tasks, self.featurizer.features)
        samples = {name: self.tasks[name].train for name in tasks}
        model.build_from_batches({name: split.batch(np.arange(min(2, len(split.token_ids))))
                                  for name, split in samples.items()})
        return model

    def _encoder(self) -> keras.Model:
        """The shared encoder that entity ablation carries from one run to the next."""
        encoder = getattr(self.model, "backbone", None)
        if encoder is None:
            raise InputError(f"model {self.run.model} has no shared pretrained encoder to save "
                             "or load; init_encoder/save_encoder work with --model bert")
        return encoder

    def _optimizer(self) -> keras.optimizers.Optimizer:
        t = self.run.train
        kinds = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD,
                 "rmsprop": keras.optimizers.RMSprop, "adamw": keras.optimizers.AdamW}
        if t.optimizer not in kinds:
            raise InputError(f"unknown optimizer {t.optimizer!r}; valid: {', '.join(kinds)}")
        extra = {"rho": 0.95} if t.optimizer == "rmsprop" else {}
        if t.optimizer == "adamw":
            extra["weight_decay"] = t.weight_decay
        rate = t.learning_rate
        if t.warmup > 0:
            rate = LinearWarmupDecay(t.learning_rate, int(t.warmup * self.total_steps),
                                     self.total_steps)
        # one norm over all gradients, as torch's clip_grad_norm in WANG's code (Keras's clipnorm
        # would clip each variable's gradient on its own)
        optimizer = kinds[t.optimizer](learning_rate=rate, global_clipnorm=t.clipnorm, **extra)
        if t.optimizer == "adamw":  # no decay of biases and layer norms, as BERT does
            optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
        return optimizer

    def _plan(self) -> tuple[dict[str, int], int, int]:
        """Batches per pass of each scheduled task, steps per epoch, total steps. train.steps
        counts main-corpus batches: the total is then the steps that many take at the
        schedule's share of main batches (exact for turns, near it for random draws); the
        loop itself stops on the main batches."""
        t, run = self.run.train, self.run
        scheduled = {n: -(-len(self.tasks[n].train.token_ids) // t.batch_size)
                     for n in run.tasks}
        plan = get_schedule(run.schedule)(run.main, scheduled, np.random.default_rng(0))
        epoch_len = len(plan)
        if t.steps:
            return scheduled, epoch_len, -(-t.steps * epoch_len
                                           // max(1, plan.count(run.main)))
        # The floor counts main-corpus batches, so partners keep the baseline's main exposure.
        epochs = max(t.epochs or 1, t.min_main_batches / scheduled[run.main])
        return scheduled, epoch_len, max(1, int(round(epochs * epoch_len)))

    def _signature(self, split: str) -> dict[str, tf.TensorSpec]:
        """Training batches may carry more inputs (auxiliary labels) than evaluation ones."""
        task = next(iter(self.tasks.values()))
        return signature_of(getattr(task, split).batch(np.arange(1))[0])

    def _compile_step(self, task: str):
        weight = float(self.run.loss_weights.get(task, 1.0))
        variables = self.model.trainable_variables

        def step(inputs, tags, share=1.0):
            with tf.GradientTape() as tape:
                loss = self.model.task_loss(inputs, tags, task, training=True)
                scaled = loss * weight * share
            grads = tape.gradient(scaled, variables)
            used = [(g, v) for g, v in zip(grads, variables) if g is not None]
            self.optimizer.apply_gradients(used)
            if self.average and not self.strategy:
                self.average.update()
            return loss

        if self.strategy:
            distributed = self._distributed(step)
            if not self.average:
                return distributed

            def averaged(inputs, tags):  # the average is updated once, across replicas
                loss = distributed(inputs, tags)
                self.average.update_now()
                return loss
            return averaged
        return tf.function(step, input_signature=[self._signature("train"),
                                                  tf.TensorSpec([None, None], tf.int32)])

    def _distributed(self, step):
        """The same step on every replica, each on its share of the batch; gradients are
        summed across replicas by the optimizer, so each replica's loss is divided by their
        number (the loss is the mean of the replicas' means)."""
        strategy, replicas = self.strategy, self.strategy.num_replicas_in_sync

        def replica_step(inputs, tags):
            return step(inputs, tags, 1.0 / replicas)

        @tf.function(reduce_retracing=True)
        def run_all(inputs, tags):
            losses = strategy.run(replica_step, args=(inputs, tags))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None) / replicas

        def call(inputs, tags):
            parts = [np.array_split(a, replicas) for a in (*inputs.values(), tags)]
            keys = list(inputs)

            def value(context):
                i = context.replica_id_in_sync_group
                return {k: parts[j][i] for j, k in enumerate(keys)}, parts[-1][i]

            shares = strategy.experimental_distribute_values_from_function(value)
            return run_all(*shares) if isinstance(shares, tuple) else run_all(
                *strategy.experimental_local_results(shares)[0])

        return call

    # ----- training ----------------------------------------------------------------------
    def averaged(self):
        """A block in which the model holds its averaged weights (train.ema), else nothing."""
        return self.average.applied() if self.average else contextlib.nullcontext()

    def devel_score(self) -> tuple[float, dict]:
        """What selects the weights and stops training: the main corpus's devel F1, or with
        select_on 'mean' the mean devel F1 over every NER head (each head's in the history).
        With weight averaging, the averaged weights' scores."""
        with self.averaged():
            return self._devel_score()

    def _devel_score(self) -> tuple[float, dict]:
        run = self.run
        if run.select_on != "mean":
            f1 = self.selection_f1(run.main, "devel", run.viterbi)
            return f1, {"devel_f1": f1}
        heads = {name: self.selection_f1(name, "devel", run.viterbi) for name in run.tasks}
        mean = float(np.mean(list(heads.values())))
        return mean, {"devel_f1": heads[run.main], "devel_heads_f1": heads,
                      "devel_mean_f1": mean}

    def fit(self) -> RunRecord:
        """Train for the planned steps. Selected on devel (train_on 'train'): evaluated every
        eval_every main batches (None: once per epoch; 0: only at the end), stopped after
        `patience` evaluations without a gain, the best evaluation's weights kept. On
        train+devel: the fixed length, no devel evaluation, the last weights (the loss logged
        once per epoch)."""
        run, t = self.run, self.run.train
        fixed = run.train_on == "train+devel"
        started = time.perf_counter()
        streams = {n: BatchStream(task.train, t.batch_size, stream_rng(run.seed, n))
                   for n, task in self.tasks.items()}
        pretrained = (self._pretrain(self.spec.pretrain_tasks, streams)
                      if self.spec.pretrain_tasks else None)
        if pretrained is not None:
            self._fresh_optimizer()
        if self.average:  # the average follows the main training only
            self.average.reset()
        scheduled, epoch_len, total = self._plan()
        schedule, order_rng = get_schedule(run.schedule), stream_rng(run.seed, "<schedule>")
        best = {"f1": -1.0, "step": 0, "weights": None}
        logger = open_logger(run, self.optimizer)  # None unless run.tensorboard: no cost
        history, losses, step, main_batches, epoch, stale = [], [], 0, 0, 0, 0
        stopped, done = "cap", False
        bar = tqdm(total=total, desc=f"{run.main}+{','.join(run.aux) or '-'}", unit="step",
                   disable=None if self.progress else True, leave=False)  # None: TTY only
        while not done:
            if t.lr_decay:  # WANG: "decays at the rate of 3%": lr * 0.97 ** epoch (their code)
                self.optimizer.learning_rate = t.learning_rate * (1.0 - t.lr_decay) ** epoch
            plan = schedule(run.main, scheduled, order_rng)
            for position, task in enumerate(plan):
                inputs, tags = next(streams[task])
                losses.append(self.train_step(task, inputs, tags))  # no host sync per step
                if logger:
                    logger.step(task, losses[-1])
                step += 1
                main_batches += task == run.main
                bar.update()
                # Evaluations count main-corpus batches, so the cells of one grid are compared
                # at the same exposure to the main corpus whatever their partners add.
                if t.eval_every is None:  # once per epoch
                    due = position == len(plan) - 1
                else:  # every eval_every main batches; 0: only at the end (`last`)
                    due = (t.eval_every > 0 and main_batches % t.eval_every == 0
                           and task == run.main)
                # train.steps counts main-corpus batches too: every cell of a grid trains
                # as many of them, whatever its partners add (epochs keep it by the schedule)
                last = (main_batches == t.steps and task == run.main if t.steps
                        else step == total)
                if (due or last) and fixed:
                    loss = self._mean_loss(losses, step)
                    history.append({"step": step, "main_batches": main_batches, "loss": loss})
                    bar.set_postfix(loss=f"{loss:.3f}")
                    losses = []
                    if logger:
                        logger.point(history[-1])
                elif due or last:
                    loss = self._mean_loss(losses, step)
                    score, scores = self.devel_score()
                    history.append({"step": step, "main_batches": main_batches, "loss": loss,
                                    **scores})
                    bar.set_postfix(loss=f"{loss:.3f}", devel=f"{score:.3f}")
                    losses = []
                    if logger:
                        logger.point(history[-1])
                    if score > best["f1"]:
                        with self.averaged():
                            weights = self.model.get_weights()
                        best, stale = {"f1": score, "step": step, "weights": weights}, 0
                    elif best["f1"] > 0:  # a model still finding nothing has not stalled
                        stale += 1
                    if t.patience is not None and stale > t.patience:
                        stopped = "patience"
                done = last or stopped == "patience"
                if done:
                    break
            epoch += 1
        bar.close()
        if logger:
            logger.close()
        best["stopped"] = stopped
        # At the cap with a devel gain inside the last `patience` evaluations: the cell
        # would have trained on, so its comparison is between unfinished models. A rate
        # decayed to zero (warm-up, then linear decay) ends there by design.
        best["improving"] = stopped == "cap" and not t.warmup and (
            stale <= t.patience if t.patience is not None else stale == 0)
        if fixed:  # nothing chosen on devel: the last (averaged) weights, after the length
            if self.average:
                self.average.apply()
            best.update(step=step, stopped="fixed", improving=False)
            log.info("trained on train+devel for %d steps (%s)", step,
                     run.length_from or "the given length")
        else:
            self.model.set_weights(best["weights"])
        if self.average:  # the kept weights are the average from here on
            self.average.reset()
        if run.save_encoder:
            Path(run.save_encoder).parent.mkdir(parents=True, exist_ok=True)
            self._encoder().save_weights(run.save_encoder)
        record = self._record(best, history, step, time.perf_counter() - started)
        return dataclasses.replace(record, pretrain=pretrained, steps_per_epoch=epoch_len,
                                   main_batches=main_batches,
                                   main_epochs=round(main_batches / scheduled[run.main], 4))

    def _mean_loss(self, losses: list, step: int) -> float:
        """The mean of the losses of the steps up to `step`; a NaN or infinite one (the
        weights blew up) ends the run at once with one line, not with NaN scores."""
        values = [float(x) for x in losses]
        for position, value in enumerate(values):
            if not math.isfinite(value):
                run = self.run
                at = step - len(values) + 1 + position
                cell = f"{run.main} [{'+'.join(run.aux) or 'single-task'}] seed {run.seed}"
                raise InputError(f"training diverged at step {at}; lower the learning rate "
                                 f"(the loss of {cell} became {value} at "
                                 f"train.learning_rate={run.train.learning_rate:g})")
        return float(np.mean(values))

    def train_step(self, task: str, inputs: dict, tags: np.ndarray):
        """One optimisation step of `task` on one batch; returns the loss tensor (reading it
        waits for the step, so loops read it only when they need it)."""
        return self._steps[task](inputs, tags)

    def _fresh_optimizer(self) -> None:
        """Main training after pretraining starts as the single-task model's does: step 0 of
        its rate schedule (warm-up, decay), Adam's moments and bias correction afresh. With
        the pretraining's optimizer the schedule had run on (600 pretraining steps left the
        quick preset's decayed rate at zero for its last 600 main batches)."""
        with self.strategy.scope() if self.strategy else contextlib.nullcontext():
            self.optimizer = self._optimizer()
            self.optimizer.build(self.model.trainable_variables)
        self._steps = {name: self._compile_step(name) for name in self.tasks}

    def _pretrain(self, tasks: tuple[str, ...], streams) -> dict:
        """Train the pretrain tasks until their mean devel accuracy stops improving (every
        pretrain_eval_every steps, pretrain_patience evaluations without a gain, at most
        pretrain_steps), keeping the best evaluation's weights; what it reached, per task."""
        t, rng = self.run.train, stream_rng(self.run.seed, "<pretrain>")
        best, stale, step, stopped = {"accuracy": -1.0, "step": 0, "weights": None}, 0, 0, "cap"
        accuracies: dict[str, float] = {}
        losses: list = []
        bar = tqdm(total=t.pretrain_steps, desc=f"pretrain {','.join(tasks)}", unit="step",
                   disable=None if self.progress else True, leave=False)
        while step < t.pretrain_steps:
            task = tasks[int(rng.integers(len(tasks)))]
            losses.append(self.train_step(task, *next(streams[task])))
            step += 1
            bar.update()
            if step % t.pretrain_eval_every and step < t.pretrain_steps:
                continue
            self._mean_loss(losses, step)  # a diverged pretraining stops here
            losses = []
            accuracies = {name: self.accuracy(name, "devel") for name in tasks}
            mean = float(np.mean(list(accuracies.values())))
            if mean > best["accuracy"]:
                best, stale = {"accuracy": mean, "step": step, "weights":
                               self.model.get_weights(), "each": accuracies}, 0
            else:
                stale += 1
                if stale > t.pretrain_patience:
                    stopped = "patience"
                    break
        bar.close()
        if best["weights"] is not None:
            self.model.set_weights(best["weights"])
            accuracies = best["each"]
        for task in tasks:
            log.info("pretrained %s: devel accuracy %.4f at step %d of %d (%s)", task,
                     accuracies.get(task, float("nan")), best["step"], step, stopped)
        return {task: {"devel_accuracy": accuracies.get(task), "best_step": best["step"],
                       "steps": step, "stopped": stopped} for task in tasks}

    # ----- evaluation --------------------------------------------------------------------
    def predict(self, task: str, split: EncodedSplit, viterbi: bool) -> list[list[str]]:
        """IOB2 tags for every sentence of an encoded split, in the split's order."""
        return self.predict_both(task, split, (viterbi,))[viterbi]

    def predict_both(self, task: str, split: EncodedSplit, viterbi=(True, False)
                     ) -> dict[bool, list[list[str]]]:
        """Tags under each decoding (True: constrained), from one pass of the model; the
        same path as a bundle's (`self.predictor.predict` gives the confidences too)."""
        predicted = self.predictor.predict(split, (task,), tuple(viterbi))[task]
        return {v: p.tags for v, p in predicted.items()}

    def accuracy(self, task: str, split: str) -> float:
        """Token accuracy: the score of plain-label tasks (part of speech), argmax decoded."""
        encoded = getattr(self.tasks[task], split)
        pred = self.predict(task, encoded, viterbi=False)
        pairs = [(g, p) for s, tags in zip(encoded.sentences, pred) for g, p in zip(s.tags, tags)]
        return sum(g == p for g, p in pairs) / max(1, len(pairs))

    def evaluate(self, task: str, split: str, viterbi: bool):
        encoded = getattr(self.tasks[task], split)
        gold = [list(s.tags) for s in encoded.sentences]
        return evaluate(gold, self.predict(task, encoded, viterbi), self.engine)

    def selection_f1(self, task: str, split: str, viterbi: bool) -> float:
        """`evaluate(task, split, viterbi).f1`, the score that selects weights; the fast path
        reads the split's gold mentions once and computes nothing else."""
        if not self.fast:
            return self.evaluate(task, split, viterbi).f1
        encoded = getattr(self.tasks[task], split)
        gold = [list(s.tags) for s in encoded.sentences]
        key = (task, split)
        if key not in self._gold_mentions:
            self._gold_mentions[key] = mentions(gold)
        return selection_f1(self._gold_mentions[key], gold,
                            self.predict(task, encoded, viterbi))

    def _record(self, best: dict, history: list, steps: int, seconds: float) -> RunRecord:
        """The record of the trained model; a train+devel run is scored on test alone (its
        devel split is training data): no devel scores, devel_f1 NaN (null in the file)."""
        run = self.run
        decoding = "constrained" if run.viterbi else "unconstrained"
        splits = ("test",) if run.train_on == "train+devel" else ("devel", "test")
        scores, counts = {}, {}
        for split in splits:
            encoded = getattr(self.tasks[run.main], split)
            gold = [list(s.tags) for s in encoded.sentences]
            tags = self.predict_both(run.main, encoded)
            scores[split] = {name: evaluate(gold, tags[name == "constrained"],
                                            self.engine).to_dict()
                             for name in ("constrained", "unconstrained")}
            counts[split] = {"unit": resampling_unit(encoded.sentences),
                             **unit_counts(gold, tags[run.viterbi],
                                           resampling_ids(encoded.sentences),
                                           engine=self.engine)}
        trainable = int(sum(np.prod(v.shape) for v in self.model.trainable_variables))
        total = int(sum(np.prod(v.shape) for v in self.model.variables))
        heads = {run.main: {split: scores[split][decoding] for split in splits}}
        for name in run.aux:  # one model, every corpus (KHAN, RODRIGUEZ): each head scored
            heads[name] = {split: self.evaluate(name, split, run.viterbi).to_dict()
                           for split in splits}
        return RunRecord(
            main=run.main, aux=list(run.aux), model=run.model, schedule=run.schedule,
            seed=run.seed, train_fraction=run.train_fraction,
            train_sentences={n: len(t.train.sentences) for n, t in self.tasks.items()},
            steps=steps, best_step=best["step"], stopped=best["stopped"],
            improving_at_cap=best["improving"], decoding=decoding,
            devel_f1=scores["devel"][decoding]["f1"] if "devel" in scores else math.nan,
            test_f1=scores["test"][decoding]["f1"],
            test_token_macro_f1=scores["test"][decoding]["token"]["f1"],
            scores=scores, heads=heads, unit_counts=counts, history=history,
            parameters={"trainable": trainable, "total": total},
            wall_seconds=round(seconds, 1), versions=versions(),
            device="GPU" if tf.config.list_physical_devices("GPU") else "CPU",
            config=run.to_dict(), model_config=dataclasses.asdict(self.model_config),
        )


def train(run: RunConfig, progress: bool = True) -> RunRecord:
    """Train one run and return its results record."""
    return Trainer(run, progress).fit()
