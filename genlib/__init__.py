"""genlib: the numpy/scipy backend of GenLab. Never calls Streamlit, never draws a chart.

Importing genlib is cheap: it does not import TensorFlow (nor scipy). The model
classes load on first use; the neural families import Keras only in their ``*_train``
modules.

The model protocol, followed by every family
--------------------------------------------
- ``model.sample(n_samples, rng=None, ...) -> Samples``: ``Samples(images, labels)``,
  images float32 (n, 28, 28) in [0, 1], labels int64 (n,) or None
  (:class:`genlib.protocol.Samples`; it unpacks as ``images, labels = ...``). ``rng`` is an
  int, a ``np.random.Generator`` or None.
- ``model.score_samples(images)``: log-density (nats) per image, where the model has one.
- ``model.save(path)``, ``Family.load(path)``, ``Family.load_pretrained(preset)``: one
  checkpoint format (:mod:`genlib.checkpoints`: ``.npz`` + ``.json`` manifest, hash-checked,
  written atomically).
- Neural families train through a trainer object with ``train(steps)``,
  ``train_for(seconds)`` and ``snapshot()`` (:class:`genlib.protocol.Trainer`), which
  :class:`genlib.live.LiveTraining` runs in a background thread.
- Parameters are checked when set or at ``fit``; bad values raise ``ValueError`` with the
  reason. The scoreboard (:mod:`genlib.scoreboard`) lists models, one line each.
"""

import importlib

from genlib.data import MNIST, Digits, load_mnist
from genlib.protocol import Samples

_LAZY = {
    "ClassConditionalGaussian": "genlib.gaussian",
    "ClassConditionalMixture": "genlib.gaussian",
}

__all__ = ["MNIST", "Digits", "Samples", "load_mnist", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genlib' has no attribute {name!r}")
