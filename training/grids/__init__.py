"""Grids of runs and their statistics: cells, executors, paired tests, summaries, the report
and the partner recommender."""
