"""WANG et al. 2019 (after Ma & Hovy 2016): the BiLSTM-CNN-CRF family.

Word vectors and a character CNN feed BiLSTMs. Every BiLSTM, shared or private, has its own
linear layer to `projection` (128) dimensions (WANG: "For Bi-LSTM layers in all of our models,
we use a linear unit to reshape hidden vectors to 128-dimensional vector as output"), and
everything downstream reads those projected states: the gate, the orthogonality loss, the
discriminator and each task's CRF, which scores the concatenation directly, with no further
projection (the authors' code: ChainCRF(out_dim * 2, ...) on torch.cat([task, shared])).
The variants differ only in which BiLSTMs a task reads:

- fully shared (`bilstm-crf`): one BiLSTM for every task; with one task it is the STM;
- shared-private: a shared BiLSTM S and a private P_k per task; task k reads [S ; P_k];
- adversarial: shared-private, plus a corpus discriminator on S behind gradient reversal
  (alpha) and the orthogonality loss ||S^T P_k||^2 (beta), so S keeps corpus-neutral features;
- cross-sharing: two tasks, main and auxiliary; both private BiLSTMs run on every sentence and
  gate each other (G_main = P_main * sigmoid(W P_aux + b)); task k reads [G_k ; S].

At paper sizes (lstm 256, projection 128) a private BiLSTM with its projection holds 0.86M
parameters, so SP-MTM has 1.72M more than FS-MTM (WANG table 3: 5.41M - 3.68M = 1.73M) and
CS-MTM 2 x (128 x 128 + 128) = 0.03M more than SP-MTM (5.44M - 5.41M); tests/models/
test_bilstm_structure.py checks both.
"""

from __future__ import annotations

import keras
from keras import ops

from bioner_mtl.models.base import Features, TaggerModel, layer_name
from bioner_mtl.models.configs import SHARINGS, BiLSTMConfig
from bioner_mtl.models.crf import CRFHead
from bioner_mtl.models.layers import (
    CharCNN,
    GatedCrossSharing,
    GradientReversal,
    WordEmbedding,
    orthogonality,
)


class ProjectedBiLSTM(keras.layers.Layer):
    """BiLSTM -> dropout -> its own Dense(projection): one encoder of WANG's models, as the
    authors' BiRecurrentConvNoEmbedd (rnn -> dropout_rnn -> elu(dense to tag_space))."""

    def __init__(self, units: int, projection: int, dropout: float = 0.0,
                 activation: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.projection_units = units, projection
        self.dropout, self.activation = dropout, activation
        self.bilstm = keras.layers.Bidirectional(
            keras.layers.LSTM(units, return_sequences=True), name="bilstm")
        self.drop = keras.layers.Dropout(dropout)
        self.projection = keras.layers.Dense(projection, activation=activation,
                                             name="projection")

    def call(self, inputs, mask=None, training=False):
        states = self.bilstm(inputs, mask=mask, training=training)
        return self.projection(self.drop(states, training=training))

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "projection": self.projection_units, "dropout": self.dropout,
                "activation": self.activation}


class BiLSTMTagger(TaggerModel):
    def __init__(self, config: BiLSTMConfig, tasks: dict[str, int], features: Features,
                 **kwargs):
        super().__init__(tasks, **kwargs)
        if config.sharing not in SHARINGS:
            raise ValueError(f"sharing {config.sharing!r} is not one of {SHARINGS}")
        if config.sharing == "cross-sharing" and len(tasks) != 2:
            raise ValueError(f"cross-sharing gates exactly two tasks (main and auxiliary), "
                             f"got {len(tasks)}: {', '.join(tasks)}")
        self.config, self.features = config, features
        vocab, dim = features.word_vectors.shape
        self.words = WordEmbedding(vocab, dim, config.fixed_vectors, name="words")
        self.chars = CharCNN(features.num_chars, config.char_dim, config.char_filters,
                             config.char_width, config.dropout, name="char_cnn")
        self.input_dropout = keras.layers.Dropout(config.dropout)

        def encoder(name: str) -> ProjectedBiLSTM:
            return ProjectedBiLSTM(config.lstm, config.projection, config.dropout,
                                   config.projection_activation, name=name)

        self.shared = encoder("shared_bilstm")
        self.private = ({t: encoder(layer_name("private_bilstm", t)) for t in tasks}
                        if config.sharing != "fully-shared" else {})
        self.heads = ({t: CRFHead(n, name=layer_name("crf", t)) for t, n in tasks.items()}
                      if config.crf else self.make_heads())
        if config.sharing == "adversarial":
            self.reversal = GradientReversal(name="gradient_reversal")
            self.discriminator = keras.layers.Dense(len(tasks), name="corpus_discriminator")
            self.corpus_ids = {t: i for i, t in enumerate(sorted(tasks))}
        if config.sharing == "cross-sharing":
            self.main_task, self.aux_task = list(tasks)
            self.cross = GatedCrossSharing(config.projection, name="cross_sharing")

    def build_with_vectors(self) -> None:
        self.words.set_vectors(self.features.word_vectors)

    def embed(self, inputs, training):
        chars = self.chars(inputs["char_ids"], training=training)
        words = self.words(inputs["token_ids"])
        return self.input_dropout(ops.concatenate([words, ops.cast(chars, words.dtype)], -1),
                                  training=training)

    def encode(self, inputs, task, training):
        """(features the task's CRF reads, shared states, private states or None), all
        built from the BiLSTMs' projected states."""
        return self.encode_many(inputs, (task,), training)[task]

    def encode_many(self, inputs, tasks, training):
        """Per task (features, shared, private): the embedding and the shared BiLSTM run once
        for all tasks, so one pass tags with every head."""
        mask = inputs["padding_mask"]
        x = self.embed(inputs, training)
        shared = self.shared(x, mask=mask, training=training)
        if self.config.sharing == "fully-shared":
            return {t: (shared, shared, None) for t in tasks}
        if self.config.sharing == "cross-sharing":
            p_main = self.private[self.main_task](x, mask=mask, training=training)
            p_aux = self.private[self.aux_task](x, mask=mask, training=training)
            gated = dict(zip((self.main_task, self.aux_task), self.cross(p_main, p_aux)))
            return {t: (ops.concatenate([gated[t], shared], -1), shared, None) for t in tasks}
        out = {}
        for t in tasks:
            private = self.private[t](x, mask=mask, training=training)
            out[t] = (ops.concatenate([shared, private], -1), shared, private)
        return out

    def scores(self, inputs, task, training=False):
        return self._scores(inputs, task, training)[0]

    def scores_many(self, inputs, tasks, training=False):
        encoded = self.encode_many(inputs, tasks, training)
        return {t: self.heads[t](encoded[t][0]) for t in tasks}

    def _scores(self, inputs, task, training):
        features, shared, private = self.encode(inputs, task, training)
        return self.heads[task](features), shared, private

    def task_loss(self, inputs, tags, task, training=True):
        scores, shared, private = self._scores(inputs, task, training)
        mask = inputs["tag_mask"]
        loss = self.heads[task].loss(scores, tags, mask)
        if self.config.sharing != "adversarial":
            return loss
        # The discriminator guesses the corpus from the shared states' last real token.
        lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
        last = ops.take_along_axis(shared, ops.reshape(ops.maximum(lengths - 1, 0), (-1, 1, 1)),
                                   axis=1)[:, 0]
        logits = self.discriminator(self.reversal(last))
        target = ops.full((ops.shape(logits)[0],), self.corpus_ids[task], dtype="int32")
        adversarial = ops.mean(keras.losses.sparse_categorical_crossentropy(
            target, logits, from_logits=True))
        return (loss + self.config.adversarial_weight * adversarial
                + self.config.orthogonality_weight * orthogonality(shared, private, mask))


def build_bilstm_crf(config: BiLSTMConfig, tasks: dict[str, int], features: Features):
    return BiLSTMTagger(config, tasks, features, name=config.sharing.replace("-", "_"))
