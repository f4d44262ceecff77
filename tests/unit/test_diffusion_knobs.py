"""genlib.diffusion_knobs: the guidance and steps figures, and the table the page opens with."""

import json
import shutil

import pytest

from genlib import diffusion as df
from genlib import diffusion_knobs as dk
from genlib import scoreboard


@pytest.fixture(scope="module")
def model():
    return df.DiffusionModel.load_pretrained("latent")


@pytest.fixture(scope="module")
def reference(mnist, judge):
    return scoreboard.prepare_reference(mnist, judge)


def test_more_guidance_gives_truer_classes(model, judge, reference):
    """Guidance 0 ignores the class (~10% right by chance); guidance 3 nearly always right."""
    low = dk.measure_point(model, judge, reference, 0.0, 10, n=200)
    high = dk.measure_point(model, judge, reference, 3.0, 10, n=200)
    assert low["consistency"] < 0.3 and high["consistency"] > 0.95
    assert set(dk.POINT_FIELDS) <= set(high) and high["steps"] == 10


def test_one_step_is_worse_than_twenty(model, judge, reference):
    one = dk.measure_point(model, judge, reference, 1.5, 1, n=200)
    twenty = dk.measure_point(model, judge, reference, 1.5, 20, n=200)
    assert twenty["frechet"] < one["frechet"]


def test_shipped_table_holds_for_the_shipped_model_and_sample(model, mnist):
    rows = dk.load_table(model, mnist)
    assert rows is not None
    got = {(r["guidance"], r["steps"], r["sampler"]) for r in rows}
    assert got == set(dk.guidance_settings() + dk.steps_settings())
    assert dk.load_table(model, mnist, n=123) is None  # other settings: measured live


def test_shipped_pixel_table_holds_for_the_shipped_pixel_model(mnist):
    """The pixel U-Net's table ships too (it takes ~15 minutes of CPU to measure): every
    setting, and its figures say what the knobs do (guidance up, consistency up)."""
    pixel = df.DiffusionModel.load_pretrained("pixel")
    assert dk.shipped_table_path("pixel").name == "diffusion_pixel_knobs.npz"
    rows = dk.load_table(pixel, mnist)
    assert rows is not None
    assert {(r["guidance"], r["steps"], r["sampler"]) for r in rows} == set(
        dk.guidance_settings() + dk.steps_settings())
    cons = {r["guidance"]: r["consistency"] for r in rows
            if r["steps"] == 20 and r["sampler"] == "euler"}
    assert cons[0.0] < 0.3 < 0.95 < cons[3.0]
    model = df.DiffusionModel.load_pretrained("latent")
    assert dk.load_table(model, mnist, path=dk.shipped_table_path("pixel")) is None


def test_a_table_for_another_model_is_not_used(model, mnist, tmp_path):
    path = tmp_path / "t.npz"
    shutil.copy(dk.shipped_table_path(), path)
    manifest_file = path.with_suffix(".json")
    manifest = json.loads(dk.shipped_table_path().with_suffix(".json").read_text())
    manifest["model_sha256"] = "0" * 64
    manifest_file.write_text(json.dumps(manifest))
    assert dk.load_table(model, mnist, path=path) is None


def test_a_damaged_table_is_named(model, mnist, tmp_path):
    path = tmp_path / "t.npz"
    shutil.copy(dk.shipped_table_path(), path)
    shutil.copy(dk.shipped_table_path().with_suffix(".json"), path.with_suffix(".json"))
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="damaged"):
        dk.load_table(model, mnist, path=path)


@pytest.mark.parametrize("kwargs, words", [({"guidance": -1.0}, "guidance"),
                                           ({"steps": 500}, "steps"),
                                           ({"sampler": "heun"}, "sampler"),
                                           ({"n": 3}, "n must")])
def test_bad_settings_raise(model, judge, reference, kwargs, words):
    args = {"guidance": 1.5, "steps": 5, "sampler": "euler", **kwargs}
    n = args.pop("n", 50)
    with pytest.raises(ValueError, match=words):
        dk.measure_point(model, judge, reference, n=n, **args)
