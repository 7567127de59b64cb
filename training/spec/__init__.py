"""Run specification: the model catalogue, run configs, presets and schedules.

Imports no TensorFlow, so a command checks every run before it loads anything heavy.
"""
