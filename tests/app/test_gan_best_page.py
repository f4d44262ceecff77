"""AppTest of the GAN page with the best presets (issue 16): their pretrained samples open."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from genlib import gan

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "pages" / "4_GAN_Live_Training.py"
SHIPPED = [p for p in gan.BEST if gan.shipped_checkpoint_path(p).exists()]


@pytest.mark.parametrize("preset", SHIPPED)
def test_a_link_opens_the_pretrained_best_gan(preset):
    """?preset=<best> shows that checkpoint's grid, labelled, with the hinge loss on offer."""
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.query_params["preset"] = preset
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="gan_preset").value == preset
    info = next(i.value for i in at.info if "pretrained" in i.value)
    assert preset in info and f"{gan.GAN.load_pretrained(preset).step:,} steps" in info
    assert "hinge" in at.radio(key="gan_loss_best").options
    assert len(at.image) >= 1


def test_the_seed_faithful_presets_do_not_offer_the_hinge_loss():
    """The lesson presets keep their two losses (hinge is a best-preset option)."""
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    assert not at.exception
    assert at.selectbox(key="gan_preset").value == "mlp"
    assert list(at.radio(key="gan_loss").options) == list(gan.LOSSES)
