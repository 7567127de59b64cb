"""Benchmarks shared by experiments/bench.py and inference_speed.py: our side, the peers' side
(flair, transformers), and how both are timed."""
