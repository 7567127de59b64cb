"""KHAN 2020 / RODRIGUEZ 2022 / TONG 2021: a shared BERT encoder with one head per corpus.

The encoder reads subwords; each head reads one subword per word (its first or last piece,
`label_on`), so NER heads, CRFs, losses and decoding work on words as in the other families.
With `label_on="every"` or `"every-last"` every piece of a word is trained on the word's label
(softmax heads); the word is read from its first piece (`every`) or its last (`every-last`,
RODRIGUEZ), the featurizer's `word_positions` say which.

TONG's auxiliary tasks are derived from each corpus's own NER labels and trained with
weights: mtCLS (token in a multi-token entity / single-token entity / outside) on the word
vectors, bCLS (sentence has an entity) and mCLS (0/1/2/3+ entities) on a pooled sentence
vector (CLS, mean or max pooling). Each auxiliary head is TONG's "project layer and a
classifier" (`AuxiliaryHead`). L = a L_ner + b L_mtCLS + c L_bCLS + d L_mCLS.
"""

from __future__ import annotations

import keras
from keras import ops

from bioner_mtl.data.derived_labels import AUX_TASKS
from bioner_mtl.models.base import Features, TaggerModel, layer_name
from bioner_mtl.models.configs import EVERY_PIECE, POOLINGS, BertConfig
from bioner_mtl.models.crf import CRFHead
from bioner_mtl.models.softmax_head import SoftmaxHead


class AuxiliaryHead(SoftmaxHead):
    """TONG's auxiliary head: a projection (`projection` units, `activation`; 0: none), then
    a linear classifier to `num_labels` scores; the masked cross-entropy of SoftmaxHead."""

    def __init__(self, num_labels: int, projection: int, activation: str = "tanh", **kwargs):
        super().__init__(num_labels, **kwargs)
        self.projection = projection
        self.projection_activation = activation
        self.project = (keras.layers.Dense(projection, activation=activation, name="project")
                        if projection else None)

    def call(self, features):
        return self.dense(self.project(features) if self.project is not None else features)

    def get_config(self):
        return {**super().get_config(), "projection": self.projection,
                "activation": self.projection_activation}


class BertTagger(TaggerModel):
    def __init__(self, config: BertConfig, tasks: dict[str, int], features: Features,
                 **kwargs):
        super().__init__(tasks, **kwargs)
        if config.pooling not in POOLINGS:
            raise ValueError(f"pooling {config.pooling!r} is not one of {POOLINGS}")
        if config.label_on in EVERY_PIECE and config.crf:
            raise ValueError(f"label_on={config.label_on!r} trains every subword: use softmax "
                             "heads (crf=False) or label_on first/last")
        self.config = config
        self.backbone = features.encoder.backbone
        self.backbone.trainable = not config.freeze_encoder
        self.dropout = keras.layers.Dropout(config.dropout)
        self.to_float32 = keras.layers.Activation("linear", dtype="float32")  # heads in float32
        self.heads = ({t: CRFHead(n, name=layer_name("crf", t)) for t, n in tasks.items()}
                      if config.crf else self.make_heads())
        self.weights_by_aux = {"mtCLS": config.mtcls_weight, "bCLS": config.bcls_weight,
                               "mCLS": config.mcls_weight}
        projection = (features.encoder.hidden_dim if config.aux_projection is None
                      else config.aux_projection)
        self.aux_heads = {kind: {t: AuxiliaryHead(AUX_TASKS[kind], projection,
                                                  config.aux_activation,
                                                  name=layer_name(kind, t))
                                 for t in tasks}
                          for kind, weight in self.weights_by_aux.items() if weight > 0}

    def encode(self, inputs, training):
        """Subword vectors [B, S, H] after dropout."""
        out = self.backbone({"token_ids": inputs["token_ids"],
                             "segment_ids": inputs["segment_ids"],
                             "padding_mask": inputs["padding_mask"]}, training=training)
        return self.to_float32(self.dropout(out["sequence_output"], training=training))

    @staticmethod
    def words(subwords, positions):
        """The vector of each word's predicting subword: [B, W, H]."""
        return ops.take_along_axis(subwords, ops.expand_dims(positions, -1), axis=1)

    def scores(self, inputs, task, training=False):
        return self.scores_many(inputs, (task,), training)[task]

    def scores_many(self, inputs, tasks, training=False):
        words = self.words(self.encode(inputs, training), inputs["word_positions"])
        return {task: self.heads[task](words) for task in tasks}

    def pooled(self, subwords, mask):
        if self.config.pooling == "cls":
            return subwords[:, 0]
        weight = ops.expand_dims(ops.cast(mask, subwords.dtype), -1)
        if self.config.pooling == "mean":
            return ops.sum(subwords * weight, axis=1) / ops.maximum(ops.sum(weight, axis=1), 1.0)
        return ops.max(ops.where(weight > 0, subwords, ops.cast(-1e4, subwords.dtype)), axis=1)

    def task_loss(self, inputs, tags, task, training=True):
        subwords = self.encode(inputs, training)
        words = self.words(subwords, inputs["word_positions"])
        head, mask = self.heads[task], inputs["tag_mask"]
        if self.config.label_on in EVERY_PIECE:
            # every piece of a word learns the word's label
            index = inputs["subword_words"]
            piece_tags = ops.take_along_axis(tags, ops.maximum(index, 0), axis=1)
            loss = head.loss(head(subwords), piece_tags, index >= 0)
        else:
            loss = head.loss(head(words), tags, mask)
        loss = self.config.ner_weight * loss
        if "mtCLS" in self.aux_heads:
            aux = self.aux_heads["mtCLS"][task]
            loss += self.config.mtcls_weight * aux.loss(aux(words), inputs["mtcls"], mask)
        sentence = self.pooled(subwords, inputs["padding_mask"])
        for kind, key in (("bCLS", "bcls"), ("mCLS", "mcls")):
            if kind in self.aux_heads:
                logits = self.aux_heads[kind][task](sentence)
                loss += self.weights_by_aux[kind] * ops.mean(
                    keras.losses.sparse_categorical_crossentropy(
                        inputs[key], ops.cast(logits, "float32"), from_logits=True))
        return loss


def build_bert(config: BertConfig, tasks: dict[str, int], features: Features):
    return BertTagger(config, tasks, features, name="bert_tagger")
