"""The `genlab` command: every subcommand listed, bad arguments end in one line and exit 2."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genlib import cli, images

ROOT = Path(__file__).resolve().parents[2]


def genlab(*args, cwd=None):
    """Run `python -m genlib.cli ARGS` as a user would run `genlab ARGS`."""
    env = {"PYTHONPATH": str(ROOT), "GENLAB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "genlib.cli", *args], cwd=cwd or ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_help_lists_every_command():
    """`genlab --help` names run, train, scoreboard and sample."""
    r = genlab("--help")
    assert r.returncode == 0
    for command in ("run", "train", "scoreboard", "sample"):
        assert f"    {command}" in r.stdout


@pytest.mark.parametrize("args, says", [
    ((), "required: COMMAND"),
    (("fly",), "invalid choice: 'fly'"),
    (("train", "rnn"), "invalid choice: 'rnn'"),
    (("sample", "no such model"), "no model 'no such model'"),
    (("sample", "VAE, best"), "matches 2 models"),
    (("sample", "mlp", "-n", "0"), "must be at least 1"),
    (("sample", "mlp", "-n", "many"), "'many' is not a whole number"),
    (("sample", "mlp", "-o", "grid.jpg"), "should end in .png"),
    (("sample", "mlp", "-o", "/no/such/folder/g.png"), "no folder /no/such/folder"),
    (("sample", "mlp", "--bogus"), "unrecognized arguments: --bogus"),
    (("run", "--port", "-3"), "must be at least 1"),
    (("run", "--max-trainers", "lots"), "'lots' is not a whole number"),
])
def test_bad_arguments_say_why_without_traceback(args, says):
    """A bad argument: a clear message, exit status 2, no traceback."""
    r = genlab(*args)
    assert r.returncode == 2
    assert says in r.stderr
    assert "Traceback" not in r.stderr


def test_train_dispatches_to_genlib_train():
    """`genlab train gan --help` is the GAN trainer's own help; without a family, the list."""
    r = genlab("train", "gan", "--help")
    assert r.returncode == 0 and "--preset" in r.stdout and "--minutes" in r.stdout
    r = genlab("train")
    assert r.returncode == 2 and "diffusion" in r.stdout


def test_sample_writes_the_models_digits_as_png(tmp_path):
    """`genlab sample` writes a PNG of n digits, the same as tiling the model's own samples."""
    from PIL import Image

    from genlib import registry
    from genlib.data import load_mnist

    out = tmp_path / "grid.png"
    r = genlab("sample", "class means", "-n", "12", "--cols", "4", "--scale", "1",
               "--seed", "3", "-o", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    written = np.asarray(Image.open(out))
    model = registry.load_model("Class means (10 images)", load_mnist("sample"))
    expected = images.tile(model.sample(12, rng=np.random.default_rng(3)).images, n_cols=4)
    assert written.shape == expected.shape == (3 * 30 - 2, 4 * 30 - 2)
    np.testing.assert_array_equal(written, images.to_uint8(expected))


def test_importing_the_cli_loads_neither_tensorflow_nor_streamlit():
    """The command starts fast: its module imports no heavy library."""
    code = "import sys, genlib.cli; print('tensorflow' in sys.modules, 'streamlit' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.stdout.split() == ["False", "False"]


def test_app_dir_in_a_checkout_is_the_checkout():
    """Run from a clone, `genlab run` serves this checkout's app.py and pages/."""
    assert cli.app_dir() == ROOT


def test_a_model_is_found_by_name_preset_or_unique_part():
    from genlib import registry
    from genlib.cli import UsageError, find_model

    assert find_model("gan, mlp") == "GAN, MLP"
    # a preset names the one row loaded from it, though other names contain it too
    assert find_model("mlp") == "GAN, MLP" and find_model("dcgan") == "GAN, DCGAN"
    assert find_model("mlp_best") == "Best GAN: MLP, EMA of G"
    assert find_model("pca") == "Gaussian, PCA (rank 20)"
    shared = [n for n in registry.MODELS
              if getattr(registry.MODELS[n].make, "preset", None) == "conv_best"]
    assert len(shared) == 2  # one preset, two rows: the preset alone does not choose
    with pytest.raises(UsageError, match="matches 2 models"):
        find_model("conv_best")
    with pytest.raises(UsageError, match="no model"):
        find_model("no such model")
