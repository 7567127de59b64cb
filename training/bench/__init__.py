"""Benchmarks shared by experiments/bench.py and inference_speed.py: our side, the peers' side
(flair, transformers), and how both are timed."""

import logging

# Benchmarks train for a fixed number of steps and never select on devel, so they score one
# devel sentence (devel_limit 1); the feasibility check's warning that this part has no entity
# is about a selection they do not make, and would only puzzle the reader of their tables.
logging.getLogger("bioner_mtl.training.spec.feasible").setLevel(logging.ERROR)
