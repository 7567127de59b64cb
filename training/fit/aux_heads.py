"""TONG's auxiliary heads scored on their own: bCLS (has an entity) and mCLS (0/1/2/3+
entities) by sentence accuracy, mtCLS (multi-token / single-token entity / outside) by word
accuracy, on the main corpus's devel and test splits. TONG's figures read them, and a head
weight that seems to help NER is worth reading beside what that head itself learned.

The gold labels are derived from the NER tags exactly as for training (data.derived_labels),
per row of the split as the model sees it (a long sentence's windows are rows of their own).
"""

from __future__ import annotations

import numpy as np

from bioner_mtl.data import derived_labels
from bioner_mtl.training.fit.batches import eval_batches

SENTENCE_KINDS = {"bCLS": derived_labels.bcls, "mCLS": derived_labels.mcls}


def _gold(split) -> dict[str, list]:
    """Per row: bCLS and mCLS labels of its words, and mtCLS of each word."""
    per_sentence = [derived_labels.mtcls(s.tags) for s in split.sentences]
    gold: dict[str, list] = {"mtCLS": [[per_sentence[s][w] for s, w in row.words]
                                       for row in split.rows]}
    for kind, label in SENTENCE_KINDS.items():
        gold[kind] = [label([split.sentences[s].tags[w] for s, w in row.words])
                      for row in split.rows]
    return gold


def aux_accuracy(trainer) -> dict | None:
    """{head: {split: accuracy}} of the main corpus's auxiliary heads (None for a model
    without any): the weights the trainer kept, the splits its record is scored on."""
    model, run = trainer.model, trainer.run
    heads = {kind: by_task[run.main] for kind, by_task in
             (getattr(model, "aux_heads", None) or {}).items() if run.main in by_task}
    if not heads:
        return None
    splits = ("test",) if run.train_on == "train+devel" else ("devel", "test")
    found: dict[str, dict[str, float]] = {kind: {} for kind in heads}
    for split in splits:
        encoded = getattr(trainer.tasks[run.main], split)
        gold = _gold(encoded)
        hits = {kind: [0, 0] for kind in heads}  # right, scored
        for index, inputs in eval_batches(encoded):
            subwords = model.encode(inputs, training=False)
            words = model.words(subwords, inputs["word_positions"])
            pooled = model.pooled(subwords, inputs["padding_mask"])
            for kind, head in heads.items():
                guess = np.argmax(np.asarray(head(words if kind == "mtCLS" else pooled)), -1)
                for b, row in enumerate(index):
                    truth = np.asarray(gold[kind][row])
                    said = guess[b, : truth.size] if kind == "mtCLS" else guess[b]
                    hits[kind][0] += int(np.sum(said == truth))
                    hits[kind][1] += int(truth.size)
        for kind, (right, scored) in hits.items():
            found[kind][split] = right / scored if scored else float("nan")
    return found
