"""Model bundles: a trained model as a self-contained directory, and the Tagger that uses it.

A bundle holds `bundle.json` (model name and config, each head's tag set, allowed
transitions and confidence temperature, the featurizer's vocabularies, versions),
`model.weights.h5` (Keras weights: no pickled objects), `calibration.json` with a
`reliability_HEAD.png` per NER head (training/calibration.py) and, for BERT models, the
encoder's config and vocabulary. Loading needs no
training data, no network and no word2vec cache: the word vectors are part of the weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioner_mtl.data.atomic import write_directory, write_text
from bioner_mtl.data.derived_labels import mention_spans
from bioner_mtl.data.errors import InputError
from bioner_mtl.data.reader import Sentence
from bioner_mtl.training.fit.batches import TagSet
from bioner_mtl.training.fit.decoding import Transitions
from bioner_mtl.training.fit.results import versions
from bioner_mtl.training.spec.catalogue import FEATURIZERS, featurizer_class, get_model
from bioner_mtl.training.spec.presets import check_model_config

log = logging.getLogger(__name__)

FORMAT = 2  # bump when a bundle written before could be read wrongly (2: BiLSTM projections)
BUNDLE_FILE, WEIGHTS_FILE = "bundle.json", "model.weights.h5"
# what a bundle directory holds: --force (train.py --save-model) replaces only such a folder
BUNDLE_KIND = ("model bundle", (BUNDLE_FILE, WEIGHTS_FILE, "calibration.json",
                                "reliability_*.png", "encoder"))
# bundle.json: every key a loader reads, with its JSON type (weights_sha256 is optional:
# bundles saved before it existed load without the check)
# Model options added after bundles were first written, with the value that rebuilds the
# model those bundles hold (TONG's auxiliary heads were one linear layer until 2026-12-01).
OLD_DEFAULTS = {"aux_projection": 0}
KEYS = {"format": int, "model": str, "model_config": dict, "featurizer": str,
        "featurizer_state": dict, "heads": dict, "main": str, "viterbi": bool}
HEAD_KEYS = {"labels": list, "scheme": str, "transitions": dict}
# optional per head: a positive number; bundles saved before temperatures existed tag at T = 1
TEMPERATURE = "temperature"
JSON_NAMES = {int: "a number", str: "a string", dict: "an object", bool: "true or false",
              list: "a list"}
RESAVE = "the bundle is damaged: copy it again or re-save it with train.py --save-model"
# what a BERT encoder computes in when tagging (weights stay float32; other families ignore it)
PRECISIONS = ("auto", "float32", "bfloat16")
PRECISION_HELP = (
    "what a BERT bundle's encoder computes in while tagging, whatever it was trained in (the "
    "bundle is not changed; weights stay float32): auto is bfloat16 on a GPU or on a CPU with "
    "AMX (amx_bf16 in /proc/cpuinfo), where it was measured faster with F1 within 0.2 points, "
    "and float32 elsewhere, as a CPU without native bfloat16 emulates it, slowly; families "
    "without a BERT encoder (window-cnn, bilstm-crf...) always compute in float32 "
    "(default auto)")


def stored_config(default, stored: dict):
    """The model configuration a bundle's `model_config` describes: its values over the
    model's defaults, and for options it predates (OLD_DEFAULTS) the value that rebuilds the
    model it holds, not today's default."""
    fields = {f.name for f in dataclasses.fields(default)}
    return dataclasses.replace(default, **{
        k: tuple(v) if isinstance(v, list) else v
        for k, v in {**OLD_DEFAULTS, **stored}.items() if k in fields})


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_bundle(trainer, directory: str | Path, calibrate: bool = True) -> Path:
    """Write the trainer's model (with its best weights) as a bundle, with a temperature per
    NER head fitted on its devel split (calibration.json and the reliability diagrams beside
    it). The trainer's predictor is left at the fitted temperatures, so its confidences and
    the bundle's agree. `calibrate=False` keeps the trainer's temperatures (1 unless set):
    for tests that check other things than calibration, which costs a pass per try.

    The bundle is written into a temporary directory beside `directory` and swapped in whole
    (data.atomic.write_directory): a failure half way (a full disk) leaves what was there, and
    a bundle already there is replaced only whole. Whether it may be replaced is the
    caller's to check (train.py --save-model refuses without --force)."""
    directory = Path(directory)
    write_directory(directory, lambda building: _write_bundle(trainer, building, calibrate))
    return directory


def _write_bundle(trainer, directory: Path, calibrate: bool) -> None:
    from bioner_mtl.training.product.calibration import calibrate_heads

    trainer.model.save_weights(directory / WEIGHTS_FILE)  # an OSError: one line, the swap's
    # a train+devel model has no held-out devel to fit temperatures on: they stay 1
    held_out = trainer.run.train_on != "train+devel"
    calibrated = {name: (task.devel, task.test) for name, task in trainer.tasks.items()
                  if task.tagset.scheme != "plain" and task.devel.sentences and held_out}
    temperatures = (calibrate_heads(trainer.predictor, calibrated, trainer.run.viterbi,
                                    directory) if calibrate else
                    dict(trainer.predictor.temperatures))
    meta = {
        "format": FORMAT,
        "weights_sha256": sha256(directory / WEIGHTS_FILE),  # checked when loading
        "model": trainer.run.model,
        "model_config": dataclasses.asdict(trainer.model_config),
        "featurizer": trainer.spec.featurizer,
        "featurizer_state": trainer.featurizer.state(directory),
        "heads": {name: {"labels": list(task.tagset.labels), "scheme": task.tagset.scheme,
                         "transitions": task.transitions.to_dict(),
                         TEMPERATURE: temperatures.get(name, 1.0)}
                  for name, task in trainer.tasks.items()},
        "main": trainer.run.main,
        "viterbi": trainer.run.viterbi,
        "versions": versions(),
        "run": trainer.run.to_dict(),
    }
    write_text(directory / BUNDLE_FILE, json.dumps(meta, indent=1))


# what a bundle.json that passed check_description yet describes no model raises
UNBUILDABLE = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def unbuildable(path: Path, err: Exception) -> InputError:
    return InputError(f"{path}: does not describe a model this bioner-mtl can build "
                      f"({type(err).__name__}: {err}); {RESAVE}")


def check_description(meta: dict, path: Path) -> None:
    """Every key a loader reads is there, with its JSON type: a damaged or hand-edited
    bundle.json stops with the key it lacks, never a KeyError from deep inside the loader."""
    def need(where: dict, key: str, kind: type, label: str) -> None:
        if key not in where:
            raise InputError(f"{path}: {label} is missing; {RESAVE}")
        value = where[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise InputError(f"{path}: {label} should be {JSON_NAMES[kind]}, found "
                             f"{json.dumps(value)[:60]}; {RESAVE}")

    for key, kind in KEYS.items():
        need(meta, key, kind, repr(key))
    if meta["featurizer"] not in FEATURIZERS:
        raise InputError(f"{path}: 'featurizer' should be {' or '.join(FEATURIZERS)}, found "
                         f"{meta['featurizer']!r}; {RESAVE}")
    if not meta["heads"]:
        raise InputError(f"{path}: 'heads' is empty, so there is nothing to tag with; {RESAVE}")
    for name, head in meta["heads"].items():
        if not isinstance(head, dict):
            raise InputError(f"{path}: head {name!r} should be an object; {RESAVE}")
        for key, kind in HEAD_KEYS.items():
            need(head, key, kind, f"heads.{name}.{key}")
        if not head["labels"] or not all(isinstance(t, str) for t in head["labels"]):
            raise InputError(f"{path}: heads.{name}.labels should be a non-empty list of tag "
                             f"names; {RESAVE}")
        temperature = head.get(TEMPERATURE, 1.0)
        if (not isinstance(temperature, (int, float)) or isinstance(temperature, bool)
                or not np.isfinite(temperature) or temperature <= 0):
            raise InputError(f"{path}: heads.{name}.{TEMPERATURE} should be a positive number, "
                             f"found {json.dumps(temperature)[:60]}; {RESAVE}")
    if meta["main"] not in meta["heads"]:
        raise InputError(f"{path}: 'main' names {meta['main']!r}, which is not one of its "
                         f"heads ({', '.join(meta['heads'])}); {RESAVE}")
    if "weights_sha256" in meta:
        need(meta, "weights_sha256", str, "'weights_sha256'")


def check_weights(path: Path, expected: str | None) -> None:
    """The weights file is there and, where bundle.json recorded its SHA-256 when saving,
    byte for byte the one saved: zeroed or truncated weights never load without a word."""
    if not path.is_file():
        raise InputError(f"{path}: missing; a bundle needs the weights file saved with it "
                         "(copy the whole directory)")
    if expected is None:
        log.warning("%s: bundle.json records no SHA-256 (saved before checksums existed), so "
                    "the weights cannot be checked", path)
        return
    if sha256(path) != expected:
        raise InputError(f"{path}: its SHA-256 differs from the one bundle.json recorded "
                         f"when saving (truncated, zeroed or replaced); {RESAVE}")


@dataclass(frozen=True)
class Entity:
    head: str  # the corpus whose head found it
    type: str
    start: int  # character offsets into the tagged text (token indices for pre-tokenised input)
    end: int
    text: str
    # mean of its tokens' confidences: the probability of each chosen tag (a CRF head's
    # marginal), at the head's fitted temperature
    confidence: float


@dataclass
class Head:
    tagset: TagSet
    transitions: Transitions
    temperature: float = 1.0  # divides the head's scores for confidences (never tags)


class Tagger:
    """A loaded bundle: tags pre-tokenised sentences or raw text with every head in one pass."""

    def __init__(self, directory: str | Path, build: bool = True, precision: str | None = None):
        """Read and check the bundle, then build the model (`build=False` stops after the
        checks of bundle.json and the weights' checksum: a process that only hands the work to
        others needs no model, and no featurizer, whose module imports Keras, of its own).

        `precision` (one of PRECISIONS, resolved by tagging_precision) is what a BERT
        encoder computes in, whatever the bundle was trained in; None keeps the bundle's own
        setting. `self.precision` says what it computes in: float32 or bfloat16, None for a
        family without an encoder (the option changes nothing there)."""
        directory = Path(directory)
        meta_path = directory / BUNDLE_FILE
        if not meta_path.is_file():
            raise InputError(f"{directory}: not a model bundle (no {BUNDLE_FILE}); train with "
                             "`experiments/train.py --save-model DIR` to make one")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"{meta_path}: unreadable bundle description ({err})") from None
        if not isinstance(meta, dict):
            raise InputError(f"{meta_path}: a JSON {type(meta).__name__} where a bundle "
                             f"description (an object) belongs; {RESAVE}")
        if meta.get("format") != FORMAT:
            raise InputError(f"{directory}: bundle format {meta.get('format')} but this "
                             f"bioner-mtl reads format {FORMAT}; retrain, or use the version "
                             f"that wrote it ({meta.get('versions', {})})")
        check_description(meta, meta_path)
        check_weights(directory / WEIGHTS_FILE, meta.get("weights_sha256"))
        spec = get_model(meta["model"])
        try:
            config = stored_config(spec.config, meta["model_config"])
            check_model_config(meta["model"], config, f"{meta_path}: model_config")
            self.meta, self.main, self.viterbi = meta, meta["main"], meta["viterbi"]
            self.heads = {name: Head(TagSet(tuple(h["labels"]), h["scheme"]),
                                     Transitions.from_dict(h["transitions"]),
                                     float(h.get(TEMPERATURE, 1.0)))
                          for name, h in meta["heads"].items()}
        except InputError:
            raise
        except UNBUILDABLE as err:
            raise unbuildable(meta_path, err) from None
        if precision is not None and precision not in PRECISIONS:
            raise InputError(f"precision {precision!r}: give one of {', '.join(PRECISIONS)}")
        self.precision = None  # float32 or bfloat16 once known; None: no encoder
        if hasattr(config, "precision"):
            if precision is not None:
                config = dataclasses.replace(config, precision=tagging_precision(precision))
            if config.precision != "auto":  # a stored auto is known once built
                self.precision = config.precision
        self._spec, self._config, self.directory = spec, config, directory
        self.featurizer = self.model = None
        if build:
            self.build()

    def build(self) -> None:
        """Build the featurizer and the model, and load its weights (once)."""
        if self.model is None:
            try:
                self.featurizer = featurizer_class(self.meta["featurizer"]).from_state(
                    self.meta["featurizer_state"], self.directory, self._config)
            except InputError:
                raise
            except UNBUILDABLE as err:
                raise unbuildable(self.directory / BUNDLE_FILE, err) from None
            encoder = getattr(self.featurizer, "encoder", None)
            if encoder is not None:
                policy = encoder.backbone.dtype_policy.name  # float32 or mixed_bfloat16
                self.precision = "bfloat16" if "bfloat16" in policy else "float32"
            self.model = self._spec.build(
                self._config, {n: len(h.tagset.labels) for n, h in self.heads.items()},
                self.featurizer.features)
            self._build(self.directory / WEIGHTS_FILE)

    def _build(self, weights: Path) -> None:
        """Create the variables from one dummy labelled sentence per head, then load them."""
        from bioner_mtl.training.fit.inference import Predictor, signature_of

        samples = {}
        for name, head in self.heads.items():
            tag = "O" if "O" in head.tagset.labels else head.tagset.labels[0]
            split = self.featurizer.encode([Sentence(("x",), (tag,))], head.tagset)
            samples[name] = split.batch(np.arange(1))
        self.model.build_from_batches(samples)
        try:
            self.model.load_weights(weights)
        except (OSError, ValueError) as err:
            raise InputError(f"{weights}: weights do not fit the bundle's model ({err}); the "
                             "bundle is damaged or from an incompatible version") from None
        inference = self.featurizer.encode([Sentence(("x",), ("O",))], None)
        # the trainer's devel/test scoring runs this same path
        self.predictor = Predictor(self.model, self.heads,
                                   signature_of(inference.batch(np.arange(1))[0]))

    def tag_sentences(self, sentences: Sequence[Sequence[str]], heads: Iterable[str] | None = None,
                      documents: Sequence[int] | None = None
                      ) -> dict[str, tuple[list[list[str]], list[np.ndarray]]]:
        """IOB2 tags and per-token confidences from each chosen head (default: all), all
        heads from one pass of the model, decoded as the bundle was trained to (`viterbi`).
        `documents`: each sentence's document number; a bundle that packs sentences into
        rows (RODRIGUEZ) packs only those of one document, as in training (default: every
        sentence its own, so unrelated texts never share a row)."""
        chosen = tuple(self.heads_for(heads))
        documents = range(len(sentences)) if documents is None else documents
        split = self.featurizer.encode([Sentence(tuple(s), ("O",) * len(s), document=d)
                                        for s, d in zip(sentences, documents, strict=True)],
                                       None)
        predicted = self.predictor.predict(split, chosen, (self.viterbi,))
        return {name: (p[self.viterbi].tags, p[self.viterbi].confidences)
                for name, p in predicted.items()}

    def heads_for(self, heads: Iterable[str] | None) -> list[str]:
        """The heads to run: the given ones (checked), else every NER head."""
        chosen = list(heads) if heads else [h for h in self.heads if self._is_ner(h)]
        unknown = [h for h in chosen if h not in self.heads]
        if unknown:
            raise InputError(f"unknown head(s) {', '.join(unknown)}; this bundle has "
                             f"{', '.join(self.heads)}")
        return chosen

    def _is_ner(self, head: str) -> bool:
        return self.heads[head].tagset.scheme != "plain"

    def tag(self, text: str, heads: Iterable[str] | None = None,
            min_confidence: float | None = None) -> list[Entity]:
        """Entities in raw text, with character offsets into `text` (those with a confidence
        below `min_confidence` left out)."""
        from bioner_mtl.data.text import split_sentences

        check_min_confidence(min_confidence)
        sentences = split_sentences(text)
        return [e for sentence, entities in zip(sentences, self.entities(
            [[t.text for t in s] for s in sentences], heads, min_confidence,
            [0] * len(sentences))) for e in with_offsets(entities, sentence, text)]

    def entities(self, sentences: list[list[str]], heads=None,
                 min_confidence: float | None = None,
                 documents: Sequence[int] | None = None) -> list[list[tuple]]:
        """Per pre-tokenised sentence: (head, type, first token, end token, confidence), the
        confidence being the mean of the entity's token confidences; entities below
        `min_confidence` (0 to 1; None keeps all) are left out. `documents`: as
        tag_sentences."""
        check_min_confidence(min_confidence)
        if not sentences:
            return []
        out: list[list[tuple]] = [[] for _ in sentences]
        for head, (tags, confidence) in self.tag_sentences(sentences, heads,
                                                           documents).items():
            for i, (sentence_tags, conf) in enumerate(zip(tags, confidence)):
                for start, end, kind in mention_spans(sentence_tags):
                    score = float(np.mean(conf[start:end]))
                    if min_confidence is None or score >= min_confidence:
                        out[i].append((head, kind, start, end, score))
        return out


def check_min_confidence(value: float | None) -> None:
    if value is None:
        return
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not 0.0 <= value <= 1.0):
        raise InputError(f"minimum confidence {value!r} is not a probability: give a number "
                         "from 0 to 1 (e.g. --min-confidence 0.5)")


def with_offsets(entities: list[tuple], tokens, text) -> list[Entity]:
    """Entities with character offsets from their tokens; `text` slices the original."""
    return [Entity(head, kind, tokens[s].start, tokens[e - 1].end,
                   text[tokens[s].start:tokens[e - 1].end], round(conf, 4))
            for head, kind, s, e, conf in entities]


def load(directory: str | Path, precision: str | None = None) -> Tagger:
    """`load(bundle).tag(text)`: the Python API (`precision`: see Tagger)."""
    return Tagger(directory, precision=precision)


def warn_if_no_encoder(tagger: Tagger, choice: str) -> None:
    """One warning line where bfloat16 was asked of a bundle with no encoder to compute in
    it (a window CNN, a BiLSTM-CRF): it tags in float32, as always."""
    if choice == "bfloat16" and tagger.precision is None:
        log.warning("--precision bfloat16: a %s bundle has no BERT encoder; it tags in float32 "
                    "as always", tagger.meta["model"])


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """This CPU's feature flags (none where /proc/cpuinfo is missing: not Linux)."""
    try:
        with cpuinfo.open(encoding="utf-8") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


GPU_NODES = ("/dev/nvidia[0-9]*", "/dev/kfd", "/dev/dxg")  # CUDA, ROCm, WSL


def gpu_present() -> bool:
    """Does TensorFlow see a GPU? On Linux, a machine with no GPU device file is answered
    without importing TensorFlow (a process that only reads and writes need not load it)."""
    import glob

    if Path("/proc/cpuinfo").is_file() and not any(glob.glob(n) for n in GPU_NODES):
        return False
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def tagging_precision(choice: str) -> str:
    """float32 or bfloat16 for a PRECISIONS choice. auto is bfloat16 where it was measured to
    pay: a GPU, or a CPU with AMX (amx_bf16 among its flags; a trained MiniLM bundle tagged
    at 1.68x its float32 rate there, keeping 99.98% of its token tags); float32 elsewhere, as
    a CPU without native bfloat16 emulates it, slowly."""
    if choice not in PRECISIONS:
        raise InputError(f"precision {choice!r}: give one of {', '.join(PRECISIONS)}")
    if choice != "auto":
        return choice
    return "bfloat16" if "amx_bf16" in cpu_flags() or gpu_present() else "float32"
