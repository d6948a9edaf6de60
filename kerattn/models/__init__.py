"""Backbones: the zoo's networks as functional Keras models of kerattn layers, on any backend.

A backbone maps token ids to logits with `keras.ops` only (no TensorFlow, no tokenizers), so it
builds, trains and saves under every Keras backend. Text and decoding are the tasks' part
(`kerattn.zoo.Translator`, `kerattn.zoo.Classifier`), which hold a backbone and a preprocessor.

- `Seq2SeqBackbone`: {"source_ids", "target_input_ids"} → logits (B, T, V); `encode` and
  `decoder_step` give decoding what it needs.
- `ClassifierBackbone`: token ids → logits (B, C) through attention pooling.
- `Seq2SeqEnsemble`, `ClassifierEnsemble`: several backbones of one architecture (trained
  apart) with the same methods, whose logits are the log of the members' mean probabilities.
"""

from kerattn.models.classifier_backbone import ClassifierBackbone
from kerattn.models.ensembles import ClassifierEnsemble, Seq2SeqEnsemble
from kerattn.models.seq2seq_backbone import Seq2SeqBackbone

__all__ = ["ClassifierBackbone", "ClassifierEnsemble", "Seq2SeqBackbone", "Seq2SeqEnsemble"]
