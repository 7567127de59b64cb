"""Can this run train, and mean something? Checked before TensorFlow loads.

- `check_size`: a model whose sizes cannot fit in this machine's memory (`--set
  hidden=10000000000`) is refused at once, instead of growing until the kernel kills it. The
  parameters are counted from the family's configuration (the layers whose size an option
  sets; the vocabulary, unknown before the corpora are read, as its two special words), at
  16 bytes each (float32 weights, their gradients and Adam's two moments), plus BERT's
  attention scores for a batch: a lower bound, so a run that fits is never refused.
- `check_entities`: a corpus with no entity to learn (its training split all O), or a main
  corpus whose devel split has none while the run selects its weights on devel F1 (which
  would stay 0: the first evaluation's weights kept, the run called "still improving"), is
  refused with one line naming the split; a scored part of devel without an entity (a short
  devel_limit), or a test split without one (a test F1 of 0 whatever the model), is a
  warning line.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from pathlib import Path

from bioner_mtl.data import corpora
from bioner_mtl.data import tags as tagging
from bioner_mtl.data.errors import InputError
from bioner_mtl.models.configs import BertConfig, BiLSTMConfig, WindowConfig
from bioner_mtl.training.spec.catalogue import get_model
from bioner_mtl.training.spec.config import RunConfig, replace, setting

log = logging.getLogger(__name__)

BYTES_PER_PARAMETER = 16  # float32 weight, gradient and Adam's two moments
SPECIAL_WORDS = 2  # padding and the unknown word: the vocabulary's floor
LABELS = 3  # O, B- and I- of one type: the smallest NER head


def parameters(run: RunConfig) -> float:
    """A lower bound on the run's trainable parameters, from its configuration alone."""
    spec = get_model(run.model)
    config = spec.model_config(run.model_options)
    tasks = len(run.tasks) + len(spec.pretrain_tasks)
    if isinstance(config, BertConfig):
        projection = config.aux_projection or 0
        return float(projection * (1 + LABELS) + tasks * LABELS)
    dim = run.vector_dim
    words = SPECIAL_WORDS * dim
    if isinstance(config, WindowConfig):
        widths = config.filter_widths
        convolutions = sum(w * dim * config.filters + config.filters for w in widths)
        flat = len(widths) * config.filters if widths else config.window * dim
        return float(words + convolutions + (flat + 1) * config.hidden
                     + tasks * config.hidden * LABELS)
    if isinstance(config, BiLSTMConfig):
        chars = SPECIAL_WORDS * config.char_dim + \
            config.char_width * config.char_dim * config.char_filters
        lstm_input = dim + config.char_filters
        bilstm = 2 * 4 * config.lstm * (lstm_input + config.lstm + 1)
        encoders = 1 if config.sharing == "fully-shared" else 1 + len(run.tasks)
        head = 2 * config.lstm * config.projection + config.projection * LABELS
        return float(words + chars + encoders * bilstm + tasks * head)
    return 0.0


def activations(run: RunConfig) -> float:
    """Bytes of the largest activation a training step holds, where a setting makes it grow
    without bound: a BERT batch's attention scores (batch x max_length^2, float32)."""
    config = get_model(run.model).model_config(run.model_options)
    if isinstance(config, BertConfig):
        return 4.0 * run.train.batch_size * config.max_length ** 2
    return 0.0


def needed(run: RunConfig) -> float:
    """Bytes a training step needs at least."""
    return BYTES_PER_PARAMETER * parameters(run) + activations(run)


def memory() -> int | None:
    """This machine's memory in bytes (the physical pages, or a smaller cgroup limit); None
    where the system does not say."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total if total > 0 else None


def size_text(count: float) -> str:
    """Bytes for a person: '48 TB', '126 GiB'."""
    for unit, size in (("EB", 1e18), ("PB", 1e15), ("TB", 1e12)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count / 2**30:.3g} GiB"


def culprit(run: RunConfig) -> str:
    """The setting that makes the run big, as the user wrote it ('--set hidden=...'): the one
    whose default alone shrinks the need most."""
    spec = get_model(run.model)
    defaults = spec.model_config({})
    base, options = needed(run), dict(run.model_options)
    found = []
    for name, value in options.items():
        if getattr(defaults, name, value) != value:
            smaller = replace(run, model_options={**options, name: getattr(defaults, name)})
            found.append((needed(smaller), setting(name, value)))
    for name in ("vector_dim",):
        default = getattr(RunConfig(main=run.main), name)
        if getattr(run, name) != default:
            found.append((needed(dataclasses.replace(run, **{name: default})),
                          setting(name, getattr(run, name))))
    if run.train.batch_size != spec.train.batch_size and activations(run):
        smaller = replace(run, train=replace(run.train, batch_size=spec.train.batch_size))
        found.append((needed(smaller), setting("batch_size", run.train.batch_size,
                                               prefix="train.")))
    found = [(n, said) for n, said in found if n < base]
    return min(found)[1] if found else f"model {run.model}'s sizes"


def check_size(run: RunConfig, available: int | None = None) -> None:
    """Refuse a run whose model cannot fit in memory (`available` bytes: this machine's)."""
    available = memory() if available is None else available
    need = needed(run)
    if available is None or not math.isfinite(need) or need <= available:
        return
    weights = BYTES_PER_PARAMETER * parameters(run)
    what = (f"{parameters(run):.3g} parameters, {BYTES_PER_PARAMETER} bytes each with "
            "gradients and Adam's moments" if weights >= activations(run) else
            f"a batch's attention scores, {run.train.batch_size} x "
            f"{get_model(run.model).model_config(run.model_options).max_length}^2 floats")
    raise InputError(f"{culprit(run)}: model {run.model} would need at least "
                     f"{size_text(need)} of memory to train ({what}), more than this "
                     f"machine's {size_text(available)}; choose a smaller size")


# (corpus, warning) pairs said in this process: a command checks its user's corpora, then the
# trainer checks every corpus again, and a pool worker trains many cells of one corpus
_SAID: set[tuple[str, str]] = set()


def _warn_once(name: str, message: str) -> None:
    where = os.path.abspath(name) if os.path.exists(name) else name
    if (where, message) not in _SAID:
        _SAID.add((where, message))
        log.warning("warning: %s", message)


def _mentions(sentences) -> int:
    return sum(tagging.count_mentions(s.tags) for s in sentences)


def check_entities(run: RunConfig, names: set[str] | None = None) -> None:
    """Refuse corpora with nothing to learn or to score (see the module's note). `names`:
    the corpora to look at (default every task of the run; a command passes those it read
    from the user's directories, the bundled ones being known good)."""
    for name in run.tasks:
        if names is not None and name not in names:
            continue
        corpus = corpora.load_corpus(name)
        if corpus.spec.kind != "ner":
            continue
        role = "main corpus" if name == run.main else "auxiliary corpus"
        if not _mentions(corpus.train):
            raise InputError(f"{name}: its train split has no entity (every tag is O), so "
                             f"the {role} has nothing to teach a model; give a corpus with "
                             "annotated mentions")
        if name != run.main:
            continue
        if run.train_fraction < 1:  # the share this seed keeps is what the model learns from
            from bioner_mtl.data.ablation import subsample

            kept = subsample(corpus.train, run.train_fraction, run.seed)
            if not _mentions(kept):
                raise InputError(
                    f"{name}: the {len(kept)} training sentences that --train-fraction "
                    f"{run.train_fraction:g} keeps (seed {run.seed}) hold no entity, so the "
                    "model has nothing to learn; give a larger --train-fraction")
        checks = [("test", run.test_limit, "the test F1 would be 0 whatever the model")]
        if run.train_on == "train":
            checks.insert(0, ("devel", run.devel_limit,
                              "the run selects its weights on devel F1, which would stay 0 "
                              "(the first evaluation's weights kept)"))
        for split, limit, why in checks:
            sentences = corpus.split(split)
            if _mentions(sentences[:limit] if limit else sentences):
                continue
            whole = _mentions(sentences)
            part = (f"the first {limit} sentences of its {split} split (the part "
                    f"{setting(f'{split}_limit', limit)} scores) have"
                    if limit and limit < len(sentences) else f"its {split} split has")
            hint = (f"; {setting(f'{split}_limit', 'none')} scores all of it" if whole
                    else f"; annotate mentions in {split}")
            message = f"{name}: {part} no entity: {why}{hint}"
            # Only a devel split with no entity at all makes the selection meaningless; a
            # short scored part of it, or a test split without mentions, is said, not refused
            # (a benchmark selects on one sentence; a corpus may hold unannotated test text).
            if split == "devel" and not whole:
                raise InputError(message)
            _warn_once(name, message)
