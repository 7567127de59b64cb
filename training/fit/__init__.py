"""Fitting one run: batches, featurizers, the trainer, inference, decoding, evaluation and the
results record it writes."""
