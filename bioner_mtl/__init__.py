"""bioner-mtl: multi-task biomedical named entity recognition.

The sub-packages live at the top of a clone (data/, embeddings/, models/, training/,
experiments/); pyproject.toml maps them under this one import name.
"""

__version__ = "0.2.0"
