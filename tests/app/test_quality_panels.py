"""Each model page carries the "How good are these samples?" panel with real figures."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
MODEL_PAGES = ["pages/2_Class_Conditional_Sampling.py", "pages/3_VAE_Latent_Space.py",
               "pages/4_GAN_Live_Training.py"]


@pytest.mark.parametrize("page", MODEL_PAGES, ids=lambda p: Path(p).stem)
def test_model_page_shows_quality_panel(page):
    """The panel is there, with the judge's coverage figure, and nothing raised."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    panels = [e for e in at.expander if e.label == "How good are these samples?"]
    assert len(panels) == 1
    assert any("overage" in m.label for m in panels[0].metric)
