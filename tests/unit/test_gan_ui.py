"""The GAN page's UI helpers: its charts, its exports and its link parser."""

import io
import threading
import zipfile

import numpy as np
import pytest

from genlib import gan
from ui import charts, gan_controller, gan_exports


@pytest.fixture(scope="module")
def mlp():
    return gan.GAN.load_pretrained("mlp")


def unzip_and_load(data: bytes, tmp_path) -> gan.GAN:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = sorted(z.namelist())
        z.extractall(tmp_path)
    assert [n.rsplit(".", 1)[1] for n in names] == ["json", "npz"]
    return gan.GAN.load(tmp_path / names[1])


def test_history_chart_thins_the_history_and_keeps_its_values():
    """One line per series, at most max_points points each, the values taken from history."""
    steps = np.arange(1, 1051)  # 10.5 points per kept one: a floor stride would keep 105
    history = {"step": steps, "d_loss": np.sin(steps), "g_loss": np.cos(steps)}
    spec = charts.gan_history_chart(history, {"d_loss": ("D loss", "#111111"),
                                              "g_loss": ("G loss", "#222222")}, "loss",
                                    rule=0.5, max_points=100)
    values = spec["data"]["values"]
    d = [v for v in values if v["series"] == "D loss"]
    assert 0 < len(d) <= 100 and len(values) == 2 * len(d)
    for v in d:
        assert v["value"] == pytest.approx(np.sin(v["step"]))
    assert spec["layer"][0]["encoding"]["color"]["scale"]["range"] == ["#111111", "#222222"]
    assert spec["layer"][1]["encoding"]["y"]["datum"] == 0.5
    # redrawn while training on the same cores: a canvas costs the browser less than SVG
    assert spec["usermeta"]["embedOptions"]["renderer"] == "canvas"
    assert spec["usermeta"] is charts.CANVAS


def test_shares_chart_marks_the_rare_digits():
    shares = np.array([0.02, *[0.98 / 9] * 9])
    spec = charts.gan_shares_chart(shares)
    values = spec["data"]["values"]
    assert [v["digit"] for v in values] == [str(k) for k in range(10)]
    assert [v["rare"] for v in values] == [True] + [False] * 9
    assert [v["share"] for v in values] == pytest.approx(shares)
    assert spec["usermeta"]["embedOptions"]["renderer"] == "canvas"


def test_metrics_csv_and_history_gif(mlp):
    """The CSV has a header and a row per kept step; the GIF has a frame per snapshot."""
    from PIL import Image

    s = mlp.snapshot()
    lines = gan_exports.metrics_csv(s["history"]).splitlines()
    assert lines[0] == "step,d_loss,g_loss,d_real,d_fake"
    assert len(lines) == 1 + len(s["history"]["step"])
    gif = Image.open(io.BytesIO(gan_exports.history_gif(s["frames"])))
    assert gif.format == "GIF" and gif.n_frames == len(s["frames"][0])
    with pytest.raises(ValueError, match="no history frames"):
        gan_exports.history_gif(([], []))


def test_weights_zip_of_the_pretrained_gan_is_the_shipped_files(mlp, tmp_path):
    """Pretrained: the zip holds the shipped files byte for byte, and they load."""
    data = gan_exports.weights_zip(mlp)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.read("gan_mlp.npz") == gan.shipped_checkpoint_path("mlp").read_bytes()
    assert unzip_and_load(data, tmp_path).step == mlp.step


def test_weights_zip_of_a_playing_trainer_outside_a_script_run(tmp_path):
    """After training (issue 18): the weights export runs where a download button's callable
    runs, in another thread with no script run and no session state, while the trainer keeps
    training; the zip loads with GAN.load at the step it was saved."""
    pytest.importorskip("tensorflow")
    from genlib.data import load_mnist
    from genlib.gan_train import GANTrainer
    from genlib.live import LiveTraining

    trainer = GANTrainer("mlp", seed=0, images=load_mnist("sample").train.images[:500],
                         jit=False)
    runner = LiveTraining(trainer)
    runner.train(5)
    runner.play()
    try:
        out = {}
        thread = threading.Thread(target=lambda: out.update(data=gan_exports.weights_zip(
            trainer, runner)))
        thread.start()
        thread.join(60)
        assert runner.playing  # saved between two slices, without stopping the training
    finally:
        runner.pause()
    model = unzip_and_load(out["data"], tmp_path)
    assert model.step >= 5 and model.preset == "mlp"
    assert model.sample(3, rng=0).images.shape == (3, 28, 28)


@pytest.mark.parametrize("params, expected", [
    ({}, ("mlp", 0, 0)),
    ({"preset": "dcgan", "seed": "42"}, ("dcgan", 42, 0)),
    ({"preset": "vae", "seed": "42"}, ("mlp", 42, 1)),
    ({"preset": "mlp", "seed": "-1"}, ("mlp", 0, 1)),
    ({"seed": "1.5"}, ("mlp", 0, 1)),
    ({"seed": "<script>", "preset": ""}, ("mlp", 0, 2)),
    ({"seed": str(2**31)}, ("mlp", 0, 1)),
    ({"seed": "inf"}, ("mlp", 0, 1)),
    ({"seed": "1e400"}, ("mlp", 0, 1)),
    ({"seed": "9" * 80}, ("mlp", 0, 1)),
    ({"seed": " 7 "}, ("mlp", 7, 0)),
    ({"seed": "nan"}, ("mlp", 0, 1)),
    ({"seed": "-inf"}, ("mlp", 0, 1)),
    ({"seed": "١٢"}, ("mlp", 0, 1)),  # Arabic-Indic digits: int() would take them
    ({"seed": "1_000"}, ("mlp", 0, 1)),  # int() would take it too
    ({"seed": "x" * 5000, "preset": "dcgan"}, ("dcgan", 0, 1)),  # the rest is kept
    ({"preset": "dcgan" * 1000, "seed": "3"}, ("mlp", 3, 1)),
    ({"preset": "mlp\u200b", "seed": "3"}, ("mlp", 3, 1)),
    ({"preset": "ñ", "seed": "ñ"}, ("mlp", 0, 2)),
])
def test_parse_link_falls_back_and_says_why(params, expected):
    """Each bad value falls back to its default and is named once; good values are kept."""
    preset, seed, problems = gan_controller.parse_link(params)
    assert (preset, seed, len(problems)) == expected


def test_parse_link_shows_a_long_value_shortened():
    """A very long bad value is named in the warning, cut to a readable length."""
    _, _, problems = gan_controller.parse_link({"seed": "9" * 100_000})
    assert len(problems) == 1 and len(problems[0]) < 150 and "..." in problems[0]
