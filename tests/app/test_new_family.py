"""A new model family in 20 lines: one class following the protocol, one registry line.

The README's example. It gets a scoreboard row and a quality panel with no other change.
"""

import numpy as np
from streamlit.testing.v1 import AppTest

from genlib import load_mnist
from genlib import scoreboard as sb
from genlib.classifier import load_classifier
from genlib.protocol import Samples


class CopyTrainingSet:
    """Memorises the training set: every sample is a training digit (the copying reference)."""

    def fit(self, images, labels):
        self.images_, self.labels_ = np.asarray(images, np.float32), np.asarray(labels)
        return self

    def sample(self, n_samples: int, rng=None) -> Samples:
        pick = np.random.default_rng(rng).integers(0, len(self.images_), n_samples)
        return Samples(self.images_[pick], self.labels_[pick])


ROW = sb.ModelSpec("Copies of training digits", "reference",
                   make=lambda mnist: CopyTrainingSet().fit(mnist.train.images,
                                                            mnist.train.labels))


def test_one_registry_line_gives_a_scoreboard_row():
    """Registered, the family is scored like every model: a copier is flagged as one."""
    sb.register(ROW)
    try:
        assert ROW.name in sb.available_models("sample")
        row, = sb.compute_scoreboard(load_mnist("sample"), load_classifier(), 200, 0, [ROW.name])
    finally:
        del sb.MODELS[ROW.name]
    assert row["memorisation_ratio"] < 0.05 and "copies training digits" in row["flags"]
    assert row["class_consistency"] > 0.95  # the labels are the training digits' own
    assert row["nll_nats"] is None  # no density, so no likelihood row


def test_the_quality_panel_takes_the_new_family_as_it_is():
    """ui.evaluation.quality_panel shows the figures and warns that it copies."""
    def page(family):
        import genlib
        from ui import evaluation

        mnist = genlib.load_mnist("sample")
        images, labels = family().fit(mnist.train.images, mnist.train.labels).sample(100, rng=0)
        evaluation.quality_panel(images, mnist, key="copy", labels=labels, expanded=True)

    at = AppTest.from_function(page, args=(CopyTrainingSet,), default_timeout=60).run()
    assert not at.exception
    assert any("copying" in w.value for w in at.warning)
    assert any(m.label == "Memorisation ratio" and float(m.value) < 0.05 for m in at.metric)
