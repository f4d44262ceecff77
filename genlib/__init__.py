"""genlib: the numpy/scipy backend of GenLab. Never calls Streamlit.

Importing genlib is cheap: it does not import TensorFlow (nor scipy). The model
classes load on first use; the neural modules (``genlib.vae``, ``genlib.gan``,
``genlib.classifier``) import Keras only to train.
"""

import importlib

from genlib.data import MNIST, Digits, load_mnist

_LAZY = {
    "ClassConditionalGaussian": "genlib.gaussian",
    "ClassConditionalMixture": "genlib.gaussian",
}

__all__ = ["MNIST", "Digits", "load_mnist", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genlib' has no attribute {name!r}")
