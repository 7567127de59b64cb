"""The model families' configurations and named choices, without Keras.

Everything a command checks before it trains (a family's options and their defaults, the
names an option may take) lives here, so the catalogue, the presets and a command's argument
checks import no TensorFlow: a mistake is refused in well under a second. The families
(models/window_cnn.py, bilstm_crf.py, bert_tagger.py) build from these configs.
"""

from __future__ import annotations

from dataclasses import dataclass

POS_TASK = "GENIA-POS"  # the part-of-speech corpus the dependent window CNN (D-MTM) trains first
SHARINGS = ("fully-shared", "shared-private", "adversarial", "cross-sharing")  # BiLSTM variants
POOLINGS = ("cls", "mean", "max")  # BERT sentence vector for TONG's bCLS / mCLS heads
# Which subwords of a word a BERT tagger trains on the word's label, and which one predicts it:
# first / last: that piece alone; every: all pieces train, the first predicts; every-last: all
# pieces train, the last predicts (RODRIGUEZ)
LABEL_ON = ("first", "last", "every", "every-last")
EVERY_PIECE = ("every", "every-last")  # label_on values that train every piece of a word
# Keras 3's activation names (keras.activations.get takes exactly these strings;
# tests/models/test_configs.py checks the list against the installed Keras)
ACTIVATIONS = ("celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid",
               "hard_silu", "hard_swish", "hard_tanh", "leaky_relu", "linear", "log_sigmoid",
               "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid", "silu", "soft_shrink",
               "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid", "sparsemax",
               "squareplus", "swish", "tanh", "tanh_shrink", "threshold")


@dataclass(frozen=True)
class WindowConfig:
    """CRICHTON's window models (models/window_cnn.py)."""

    window: int = 7  # words per window: the token and 3 either side
    filter_widths: tuple[int, ...] = (3, 4, 5)  # CRICHTON; () gives the MLP baseline
    filters: int = 100  # filters per width
    hidden: int = 1200  # dense layer after the flattened filter outputs (MLP: 300)
    dropout: float = 0.75  # drop rate after the hidden layer, as SPEC.md states it
    fixed_vectors: bool = True  # CRICHTON keeps word vectors fixed; the unknown vector trains


@dataclass(frozen=True)
class BiLSTMConfig:
    """WANG's BiLSTM-CNN-CRF family (models/bilstm_crf.py)."""

    sharing: str = "fully-shared"  # one of SHARINGS; the registry names set it
    char_dim: int = 30  # character embedding size (Ma & Hovy, WANG)
    char_filters: int = 30  # character CNN filters, width char_width, max-pooled per word
    char_width: int = 3
    lstm: int = 256  # BiLSTM hidden size per direction
    projection: int = 128  # each BiLSTM's own linear layer; the CRFs read these outputs
    # WANG's code applies ELU to that layer (F.elu(self.dense(output)), from Ma & Hovy's
    # NeuroNLP2); None gives the paper text's plain linear unit.
    projection_activation: str | None = "elu"
    dropout: float = 0.5  # at the CNN input, the BiLSTM input and the BiLSTM output
    fixed_vectors: bool = False  # WANG fine-tunes the word vectors
    crf: bool = True  # False: a softmax head (decoded with constrained Viterbi)
    adversarial_weight: float = 0.01  # alpha of L_adv (adversarial sharing only)
    orthogonality_weight: float = 0.001  # beta of L_diff (adversarial sharing only)


@dataclass(frozen=True)
class BertConfig:
    """KHAN / RODRIGUEZ / TONG's BERT multi-head tagger (models/bert_tagger.py)."""

    encoder: str | None = None  # local BERT directory (HF or TF checkpoint); None: MiniLM
    max_length: int = 128  # subwords per row with [CLS]/[SEP] (KHAN 128, TONG 256)
    label_on: str = "first"  # one of LABEL_ON; RODRIGUEZ: every-last
    pack: bool = False  # RODRIGUEZ: pack consecutive sentences of a document into one row
    crf: bool = False  # a CRF head per corpus instead of softmax
    freeze_encoder: bool = False  # KHAN's frozen-encoder comparison
    dropout: float = 0.1  # after the encoder (TONG)
    pooling: str = "cls"  # sentence vector of bCLS / mCLS: one of POOLINGS
    mtcls_weight: float = 0.0  # TONG b; 0 = no mtCLS head
    bcls_weight: float = 0.0  # TONG c; 0 = no bCLS head
    mcls_weight: float = 0.0  # TONG d; 0 = no mCLS head
    ner_weight: float = 1.0  # TONG a, the NER loss's weight: L = a L_ner + b L_mtCLS + ...
    # TONG's auxiliary heads: "a project layer and a classifier". The projection's size
    # (None: the encoder's hidden size, as BERT's pooler; 0: no projection, the classifier
    # alone) and activation (tanh, as BERT's pooler, which TONG's sentence heads stand in for)
    aux_projection: int | None = None
    aux_activation: str = "tanh"
    # training: auto (mixed bfloat16 when a GPU is present) | float32 | bfloat16; tagging takes
    # predict.py / serve.py's --precision instead (its auto: a GPU or a CPU with AMX)
    precision: str = "auto"
