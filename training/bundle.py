"""Model bundles: a trained model as a self-contained directory, and the Tagger that uses it.

A bundle holds `bundle.json` (model name and config, each head's tag set and allowed
transitions, the featurizer's vocabularies, versions), `model.weights.h5` (Keras weights: no
pickled objects) and, for BERT models, the encoder's config and vocabulary. Loading needs no
training data, no network and no word2vec cache: the word vectors are part of the weights.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.errors import InputError
from data.reader import Sentence
from models.registry import get_model
from training import batches as B
from training.auxiliary import mention_spans
from training.decoding import Transitions
from training.results import atomic_write_text

FORMAT = 2  # bump when a bundle written before could be read wrongly (2: BiLSTM projections)
BUNDLE_FILE, WEIGHTS_FILE = "bundle.json", "model.weights.h5"


def featurizer_class(kind: str):
    if kind == "words":
        from training.featurize import WordFeaturizer

        return WordFeaturizer
    from training.subword_features import SubwordFeaturizer

    return SubwordFeaturizer


def save_bundle(trainer, directory: str | Path) -> Path:
    """Write the trainer's model (with its best weights) as a bundle."""
    from training.trainer import versions

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    trainer.model.save_weights(directory / WEIGHTS_FILE)
    meta = {
        "format": FORMAT,
        "model": trainer.run.model,
        "model_config": dataclasses.asdict(trainer.model_config),
        "featurizer": trainer.spec.featurizer,
        "featurizer_state": trainer.featurizer.state(directory),
        "heads": {name: {"labels": list(task.tagset.labels), "scheme": task.tagset.scheme,
                         "transitions": task.transitions.to_dict()}
                  for name, task in trainer.tasks.items()},
        "main": trainer.run.main,
        "viterbi": trainer.run.viterbi,
        "versions": versions(),
        "run": trainer.run.to_dict(),
    }
    atomic_write_text(directory / BUNDLE_FILE, json.dumps(meta, indent=1))
    return directory


@dataclass(frozen=True)
class Entity:
    head: str  # the corpus whose head found it
    type: str
    start: int  # character offsets into the tagged text (token indices for pre-tokenised input)
    end: int
    text: str
    confidence: float  # mean probability of the mention's tags under the head's scores


@dataclass
class Head:
    tagset: B.TagSet
    transitions: Transitions


class Tagger:
    """A loaded bundle: tags pre-tokenised sentences or raw text with every head in one pass."""

    def __init__(self, directory: str | Path):
        directory = Path(directory)
        meta_path = directory / BUNDLE_FILE
        if not meta_path.is_file():
            raise InputError(f"{directory}: not a model bundle (no {BUNDLE_FILE}); train with "
                             "`experiments/train.py --save-model DIR` to make one")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"{meta_path}: unreadable bundle description ({err})") from None
        if meta.get("format") != FORMAT:
            raise InputError(f"{directory}: bundle format {meta.get('format')} but this "
                             f"bioner-mtl reads format {FORMAT}; retrain, or use the version "
                             f"that wrote it ({meta.get('versions', {})})")
        spec = get_model(meta["model"])
        fields = {f.name for f in dataclasses.fields(spec.config)}
        config = dataclasses.replace(spec.config, **{k: tuple(v) if isinstance(v, list) else v
                                                     for k, v in meta["model_config"].items()
                                                     if k in fields})
        self.meta, self.main, self.viterbi = meta, meta["main"], meta["viterbi"]
        self.featurizer = featurizer_class(meta["featurizer"]).from_state(
            meta["featurizer_state"], directory, config)
        self.heads = {name: Head(B.TagSet(tuple(h["labels"]), h["scheme"]),
                                 Transitions.from_dict(h["transitions"]))
                      for name, h in meta["heads"].items()}
        self.model = spec.build(config, {n: len(h.tagset.labels) for n, h in self.heads.items()},
                                self.featurizer.features)
        self._build(directory / WEIGHTS_FILE)

    def _build(self, weights: Path) -> None:
        """Create the variables with one dummy labelled sentence per head, then load them."""
        from training.inference import signature_of

        signature = None
        for name, head in self.heads.items():
            tag = "O" if "O" in head.tagset.labels else head.tagset.labels[0]
            split = self.featurizer.encode([Sentence(("x",), (tag,))], head.tagset)
            inputs, tags = split.batch(np.arange(1))
            self.model.task_loss(inputs, tags, name, training=False)
            if signature is None:
                inference = self.featurizer.encode([Sentence(("x",), ("O",))], None)
                signature = signature_of(inference.batch(np.arange(1))[0])
        self.model.built = True
        try:
            self.model.load_weights(weights)
        except (OSError, ValueError) as err:
            raise InputError(f"{weights}: weights do not fit the bundle's model ({err}); the "
                             "bundle is damaged or from an incompatible version") from None
        self._signature = signature
        self._passes: dict[tuple[str, ...], object] = {}  # compiled once per head selection

    def tag_sentences(self, sentences: Sequence[Sequence[str]], heads: Iterable[str] | None = None
                      ) -> dict[str, tuple[list[list[str]], list[np.ndarray]]]:
        """IOB2 tags and per-token confidences from each chosen head (default: all)."""
        from training.inference import compile_heads, predict_heads

        chosen = tuple(self.heads_for(heads))
        if chosen not in self._passes:
            self._passes[chosen] = compile_heads(
                self.model, {n: self.heads[n].transitions for n in chosen}, self.viterbi,
                self._signature)
        split = self.featurizer.encode([Sentence(tuple(s), ("O",) * len(s)) for s in sentences],
                                       None)
        info = {n: (self.heads[n].tagset, self.heads[n].transitions,
                    getattr(self.model.heads[n], "decodes_itself", False)) for n in chosen}
        return predict_heads(self._passes[chosen], info, split, self.viterbi,
                             tuple(self._signature))

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

    def tag(self, text: str, heads: Iterable[str] | None = None) -> list[Entity]:
        """Entities in raw text, with character offsets into `text`."""
        from data.text import split_sentences

        sentences = split_sentences(text)
        return [e for sentence, entities in zip(sentences, self.entities(
            [[t.text for t in s] for s in sentences], heads)) for e in
            with_offsets(entities, sentence, text)]

    def entities(self, sentences: list[list[str]], heads) -> list[list[tuple]]:
        """Per pre-tokenised sentence: (head, type, first token, end token, confidence)."""
        if not sentences:
            return []
        out: list[list[tuple]] = [[] for _ in sentences]
        for head, (tags, confidence) in self.tag_sentences(sentences, heads).items():
            for i, (sentence_tags, conf) in enumerate(zip(tags, confidence)):
                for start, end, kind in mention_spans(sentence_tags):
                    out[i].append((head, kind, start, end, float(np.mean(conf[start:end]))))
        return out


def with_offsets(entities: list[tuple], tokens, text) -> list[Entity]:
    """Entities with character offsets from their tokens; `text` slices the original."""
    return [Entity(head, kind, tokens[s].start, tokens[e - 1].end,
                   text[tokens[s].start:tokens[e - 1].end], round(conf, 4))
            for head, kind, s, e, conf in entities]


def load(directory: str | Path) -> Tagger:
    """`load(bundle).tag(text)`: the Python API."""
    return Tagger(directory)
