"""AppTest: every page works, or says plainly what it cannot show, on unusual valid datasets."""

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import ui

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["app.py", *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "pages").glob("*.py")))]


def _dataset(kind: str, folder: Path) -> Path:
    """A valid .npz: only digits 0-4, one example of a 7, or 20 digits in all."""
    rng = np.random.default_rng(0)
    real = ui.load_dataset("sample")
    if kind == "only_0_to_4":
        keep_tr, keep_te = real.train.labels < 5, real.test.labels < 5
    elif kind == "one_seven":
        keep_tr = real.train.labels != 7
        keep_tr[np.flatnonzero(real.train.labels == 7)[0]] = True
        keep_te = real.test.labels != 7
    else:  # 20 digits: two per class in training, none held back for some classes
        keep_tr = np.zeros(len(real.train), bool)
        for k in range(10):
            keep_tr[rng.choice(np.flatnonzero(real.train.labels == k), 1, replace=False)] = True
        keep_te = np.zeros(len(real.test), bool)
        keep_te[rng.choice(len(real.test), 10, replace=False)] = True
    path = folder / f"{kind}.npz"
    np.savez(path, x_train=(real.train.images[keep_tr] * 255).astype(np.uint8),
             y_train=real.train.labels[keep_tr],
             x_test=(real.test.images[keep_te] * 255).astype(np.uint8),
             y_test=real.test.labels[keep_te])
    return path


@pytest.mark.parametrize("kind", ["only_0_to_4", "one_seven", "twenty_digits"])
@pytest.mark.parametrize("page", PAGES, ids=[Path(p).stem for p in PAGES])
def test_page_runs_on_an_unusual_dataset(page, kind, tmp_path, monkeypatch):
    """No exception and no generic error box: the page works or explains what it cannot do."""
    monkeypatch.setenv("GENLAB_MNIST", str(_dataset(kind, tmp_path)))
    ui.load_dataset.clear()  # "auto" is cached per process
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        if page != "app.py":
            at.switch_page(page).run()
    finally:
        ui.load_dataset.clear()
    assert not at.exception, [e.value for e in at.exception]
    if page == "app.py" or "dataset=False" not in (ROOT / page).read_text(encoding="utf-8"):
        assert any(ui.plain(kind) in c.value for c in at.sidebar.caption)


def test_vae_interpolation_to_a_missing_digit_says_so(tmp_path, monkeypatch):
    """Only 0-4: the interpolation's default 1 -> 7 names the missing 7s (it decoded a NaN
    code to a black strip without a word)."""
    monkeypatch.setenv("GENLAB_MNIST", str(_dataset("only_0_to_4", tmp_path)))
    ui.load_dataset.clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        at.switch_page("pages/3_VAE_Latent_Space.py").run()
        assert not at.exception
        assert any("no 7s" in e.value for e in at.error), [e.value for e in at.error]
        at.selectbox(key="vae_to").set_value(4).run()
        assert not any("no 7s" in e.value for e in at.error)
    finally:
        ui.load_dataset.clear()
