"""genlib: the numpy/scipy backend of GenLab. Never calls Streamlit.

Importing genlib is cheap: it does not import TensorFlow. The neural modules
(``genlib.vae``, ``genlib.gan``, the judge classifier in ``genlib.metrics``)
load Keras lazily, only when a model is trained.
"""

from genlib.data import MNIST, Digits, load_mnist

__all__ = ["MNIST", "Digits", "load_mnist"]
