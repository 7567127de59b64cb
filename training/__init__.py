"""Training: the model catalogue, configs and presets, trainer, grids, executors, bundles.

Importing it keeps TensorFlow's C++ start-up lines off stderr (training.quiet_tensorflow):
every command and pool worker imports this package before TensorFlow; --verbose or
BIONER_VERBOSE=1 keeps them.
"""

from bioner_mtl.training import quiet_tensorflow as _quiet_tensorflow

_quiet_tensorflow.install()
