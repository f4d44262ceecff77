"""The VAE page in Chromium with the best preset: its learned prior and N(0, I), one decoder."""

import pytest
from playwright.sync_api import expect
from server import page_url, wait_idle

from genlib import vae

PAGE = "pages/3_VAE_Latent_Space.py"


@pytest.mark.skipif("conv_best" not in vae.SHIPPED or not vae.shipped_path("conv_best").exists(),
                    reason="not trained yet")
def test_best_preset_samples_from_its_learned_prior_then_n01(page, server):
    """?model=conv_best: samples from the learned mixture first; choosing N(0, I) redraws
    them through the same decoder; no exception."""
    page.goto(page_url(server, PAGE) + "?model=conv_best")
    wait_idle(page)
    main = page.locator("[data-testid='stMain']")
    expect(main.get_by_text("learned mixture of", exact=False).first).to_be_visible()
    page.get_by_role("tab", name="Samples from the prior").click()
    expect(main.get_by_text("codes z from the learned prior", exact=False)).to_be_visible()
    main.get_by_text("N(0, I): the classic VAE's").click()
    wait_idle(page)
    expect(main.get_by_text("draws z ~ N(0, I)", exact=False)).to_be_visible()
    assert page.locator("[data-testid='stException']").count() == 0
