"""models/configs.py: the families' configurations without Keras, and the activation names
the presets check against, which must be exactly the ones Keras resolves."""

import dataclasses

import keras
import pytest
from keras.src.activations import ALL_OBJECTS_DICT

from bioner_mtl.models import bert_tagger, bilstm_crf, configs, window_cnn


def test_activation_names_are_the_ones_keras_resolves():
    assert set(configs.ACTIVATIONS) == set(ALL_OBJECTS_DICT)
    for name in configs.ACTIVATIONS:
        keras.activations.get(name)
    with pytest.raises(ValueError):
        keras.activations.get("nope")


def test_the_families_build_from_the_keras_free_configs():
    assert window_cnn.WindowConfig is configs.WindowConfig
    assert bilstm_crf.BiLSTMConfig is configs.BiLSTMConfig
    assert bert_tagger.BertConfig is configs.BertConfig
    for config in (configs.WindowConfig(), configs.BiLSTMConfig(), configs.BertConfig()):
        assert dataclasses.is_dataclass(config)
        with pytest.raises(dataclasses.FrozenInstanceError):
            config.dropout = 0.3
