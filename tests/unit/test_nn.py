"""genlib.nn: numpy conv / pool / dense / transposed conv against Keras and scipy, the layer
spec's numpy pass against the Keras model built from it, and the BLAS limiter."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import signal, special

from genlib import nn

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("tensorflow")
    return nn.keras()


def _keras_layer(layer, x, weights=()):
    """Run one Keras layer on x (building it first), with ``weights`` set."""
    layer.build(x.shape)
    if weights:
        layer.set_weights(list(weights))
    return np.asarray(layer(x))


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


# ----------------------------------------------------------------------------- single layers


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("h, w, k, s", [(9, 9, 3, 1), (10, 7, 3, 2), (8, 8, 4, 2), (7, 6, 5, 3)])
def test_conv2d_matches_keras_conv2d(keras, padding, h, w, k, s):
    """conv2d equals Keras' Conv2D for both paddings, odd and even kernels, strides 1-3."""
    rng = np.random.default_rng(h * w + k + s)
    x, kernel, bias = _rand(rng, 2, h, w, 3), _rand(rng, k, k, 3, 4), _rand(rng, 4)
    want = _keras_layer(keras.layers.Conv2D(4, k, strides=s, padding=padding), x, (kernel, bias))
    got = nn.conv2d(x, kernel, bias, s, padding=padding)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_valid_conv2d_is_scipys_cross_correlation():
    """A "valid" conv is, per output channel, the sum over input channels of scipy's
    valid-mode cross-correlation, plus the bias; bias=None adds nothing."""
    rng = np.random.default_rng(0)
    x, kernel = rng.standard_normal((2, 12, 11, 3)), rng.standard_normal((3, 3, 3, 5))
    bias = rng.standard_normal(5)
    want = np.stack([
        np.stack([sum(signal.correlate2d(x[i, :, :, c], kernel[:, :, c, f], mode="valid")
                      for c in range(3)) for f in range(5)], axis=-1) for i in range(2)])
    np.testing.assert_allclose(nn.conv2d(x, kernel, bias, padding="valid"), want + bias,
                               atol=1e-10)
    np.testing.assert_allclose(nn.conv2d(x, kernel, None, padding="valid"), want, atol=1e-10)


def test_conv2d_refuses_a_bad_padding_and_a_too_small_input():
    """An unknown padding, or an input smaller than a "valid" kernel, is a clear ValueError."""
    x, kernel = np.zeros((1, 2, 2, 1)), np.zeros((3, 3, 1, 1))
    with pytest.raises(ValueError, match="padding must be"):
        nn.conv2d(x, kernel, None, padding="full")
    with pytest.raises(ValueError, match="at least 3 x 3"):
        nn.conv2d(x, kernel, None, padding="valid")


@pytest.mark.parametrize("k, s", [(3, 1), (3, 2), (2, 2), (1, 1)])
def test_im2col_rows_are_the_windows_in_kernel_order(k, s):
    """Each im2col row is one output pixel's k x k window flattened as (row, column,
    channel), the layout of a Keras kernel reshaped to (k*k*c_in, c_out)."""
    rng = np.random.default_rng(k * 10 + s)
    xp = rng.standard_normal((2, 9, 8, 3)).astype(np.float32)
    oh, ow = (9 - k) // s + 1, (8 - k) // s + 1
    cols = nn.im2col(xp, k, s, oh, ow)
    assert cols.shape == (2 * oh * ow, k * k * 3)
    for n, y, x in [(0, 0, 0), (1, oh - 1, ow - 1), (1, oh // 2, 0)]:
        want = xp[n, y * s:y * s + k, x * s:x * s + k, :].reshape(-1)
        np.testing.assert_array_equal(cols[(n * oh + y) * ow + x], want)
    with pytest.raises(ValueError, match="do not fit"):
        nn.im2col(xp, k, s, oh + 1, ow)
    one = xp[..., 0].copy()[..., None]  # a new length-1 axis: numpy gives it stride 0
    assert one.strides[-1] == 0 and one.flags.c_contiguous
    np.testing.assert_array_equal(nn.im2col(one, k, s, oh, ow),
                                  nn.im2col(xp[..., :1].copy(), k, s, oh, ow))


def test_pad2d_is_nps_zero_pad():
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 3)).astype(np.float32)
    got = nn.pad2d(x, (0, 1), (2, 1))
    np.testing.assert_array_equal(got, np.pad(x, ((0, 0), (0, 1), (2, 1), (0, 0))))
    assert got.dtype == np.float32


@pytest.mark.parametrize("h, w, pool", [(8, 8, 2), (11, 7, 2), (9, 9, 3)])
def test_maxpool2d_matches_keras(keras, h, w, pool):
    """maxpool2d equals Keras' MaxPooling2D, dropping a last partial row/column as it does."""
    x = _rand(np.random.default_rng(h + w), 3, h, w, 4)
    want = _keras_layer(keras.layers.MaxPooling2D(pool), x)
    got = nn.maxpool2d(x, pool)
    assert got.shape == want.shape == (3, h // pool, w // pool, 4)
    np.testing.assert_array_equal(got, want)


def test_maxpool2d_is_the_max_of_each_tile():
    """Each output is the max of its pool x pool tile, by definition."""
    x = np.random.default_rng(1).standard_normal((2, 6, 4, 3))
    got = nn.maxpool2d(x, 2)
    for i, j in np.ndindex(3, 2):
        np.testing.assert_array_equal(got[:, i, j], x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(
            axis=(1, 2)))
    with pytest.raises(ValueError, match="at least 2 x 2"):
        nn.maxpool2d(np.zeros((1, 1, 5, 1)), 2)


def test_dense_matches_keras(keras):
    """dense(x, kernel, bias) equals Keras' Dense."""
    rng = np.random.default_rng(2)
    x, kernel, bias = _rand(rng, 5, 7), _rand(rng, 7, 3), _rand(rng, 3)
    want = _keras_layer(keras.layers.Dense(3), x, (kernel, bias))
    np.testing.assert_allclose(nn.dense(x, kernel, bias), want, atol=1e-5)


@pytest.mark.parametrize("h, k, s, f", [(7, 4, 2, 9), (14, 4, 2, 1), (5, 3, 2, 4), (4, 5, 3, 5),
                                        (3, 3, 1, 4)])
def test_conv2d_transpose_matches_keras(keras, h, k, s, f):
    """conv2d_transpose equals Keras' Conv2DTranspose ("same") for both internal methods."""
    rng = np.random.default_rng(h + k + s + f)
    x, kernel, bias = _rand(rng, 2, h, h + 1, 6), _rand(rng, k, k, f, 6), _rand(rng, f)
    want = _keras_layer(keras.layers.Conv2DTranspose(f, k, strides=s, padding="same"), x,
                        (kernel, bias))
    np.testing.assert_allclose(nn.conv2d_transpose(x, kernel, bias, s), want, atol=1e-5)


def _conv_transpose_by_definition(x, kernel, bias, s):
    """Keras' Conv2DTranspose ("same") pixel by pixel: each input pixel adds kernel @ x to a
    k x k patch of a (h-1)*s + k canvas (at least h*s), which is then cropped to h*s."""
    n, h, w, c = x.shape
    k, _, f, _ = kernel.shape
    full = np.zeros((n, max((h - 1) * s + k, h * s), max((w - 1) * s + k, w * s), f))
    for a in range(h):
        for b in range(w):
            full[:, a * s:a * s + k, b * s:b * s + k] += np.einsum("nc,ijfc->nijf", x[:, a, b],
                                                                  kernel)
    pad = (max((h - 1) * s + k - h * s, 0)) // 2
    return full[:, pad:pad + h * s, pad:pad + w * s] + bias


@pytest.mark.parametrize("n, h, w, c, k, s, f", [
    (3, 7, 7, 6, 4, 2, 9),   # many output channels: the phase method
    (2, 14, 14, 6, 4, 2, 1),  # one output channel (a decoder's last layer): scattering
    (2, 5, 6, 3, 3, 2, 4),   # odd kernel, stride not dividing it, non-square input
    (2, 4, 4, 3, 5, 3, 5),   # stride 3
    (2, 3, 3, 2, 2, 4, 3),   # stride larger than the kernel
])
def test_both_conv_transpose_methods_match_the_definition(n, h, w, c, k, s, f):
    """The phase and scatter methods (and the dispatcher) give the by-definition result."""
    rng = np.random.default_rng(k * 10 + s)
    x = rng.standard_normal((n, h, w, c))
    kernel, bias = rng.standard_normal((k, k, f, c)), rng.standard_normal(f)
    want = _conv_transpose_by_definition(x, kernel, bias, s)
    for fn in (nn.conv2d_transpose, nn._conv_t_phases, nn._conv_t_scatter):
        np.testing.assert_allclose(fn(x, kernel, bias, s), want, atol=1e-10, err_msg=fn.__name__)


def test_conv_transpose_is_the_adjoint_of_conv():
    """<conv(x), y> == <x, conv_transpose(y)> for the same kernel: the transpose is exact."""
    rng = np.random.default_rng(0)
    k = rng.standard_normal((4, 4, 3, 5))
    x, y = rng.standard_normal((2, 14, 14, 3)), rng.standard_normal((2, 7, 7, 5))
    lhs = np.sum(nn.conv2d(x, k, 0.0, strides=2) * y)
    rhs = np.sum(x * nn.conv2d_transpose(y, k, 0.0, strides=2))  # same (k, k, 3, 5) layout
    assert lhs == pytest.approx(rhs, rel=1e-10)


def test_sigmoid_and_softplus_match_scipy_and_stay_quiet():
    """sigmoid = scipy's expit and softplus = log(1 + e^x), with no overflow warnings."""
    x = np.array([-1000.0, -40.0, -3.0, 0.0, 2.5, 40.0, 1000.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow is fine
        np.testing.assert_allclose(nn.sigmoid(x), special.expit(x), rtol=1e-15)
        np.testing.assert_allclose(nn.softplus(x), np.logaddexp(0, x), rtol=1e-15)
    assert nn.sigmoid(x.astype(np.float32)).dtype == np.float32


# ----------------------------------------------------------------------------- layer specs

SPEC = [  # every layer type and activation nn knows, in one small network
    {"type": "conv", "name": "c1", "filters": 4, "kernel": 3, "padding": "valid",
     "activation": "relu"},
    {"type": "maxpool", "pool": 2},
    {"type": "conv", "name": "c2", "filters": 5, "kernel": 3, "strides": 2,
     "activation": "leaky_relu"},
    {"type": "conv_transpose", "name": "t1", "filters": 3, "kernel": 4, "strides": 2,
     "activation": "tanh"},
    {"type": "flatten"},
    {"type": "dropout", "rate": 0.3},
    {"type": "dense", "name": "d1", "units": 12, "activation": "sigmoid"},
    {"type": "reshape", "shape": [2, 2, 3]},
    {"type": "flatten"},
    {"type": "dense", "name": "out", "units": 4},
]


def test_forward_matches_the_keras_model_built_from_the_same_spec(keras):
    """nn.forward over a spec with every layer type equals build_keras(spec) to 1e-5, and
    keras_weights / set_keras_weights move the weights both ways unchanged."""
    model = nn.build_keras(SPEC, (14, 14, 2), "every_layer", seed=3)
    rng = np.random.default_rng(4)
    weights = {k: rng.normal(0, 0.4, v.shape).astype(np.float32)
               for k, v in nn.keras_weights(model, SPEC).items()}
    nn.set_keras_weights(model, SPEC, weights)
    for k, v in nn.keras_weights(model, SPEC).items():
        np.testing.assert_array_equal(v, weights[k])
    x = rng.random((6, 14, 14, 2)).astype(np.float32)
    want = np.asarray(model(x, training=False))
    got = nn.forward(SPEC, weights, x)
    assert got.shape == want.shape == (6, 4)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_leaky_relu_slope_is_the_one_leak(keras):
    """The spec's leaky_relu is Keras' LeakyReLU with nn.LEAK (0.2, not Keras' default 0.3)."""
    x = np.linspace(-3, 3, 13, dtype=np.float32)
    layer = next(layer for layer in nn.keras_layers([{"type": "dense", "name": "d", "units": 1,
                                                      "activation": "leaky_relu"}])
                 if isinstance(layer, keras.layers.LeakyReLU))
    np.testing.assert_allclose(np.asarray(layer(x)), nn.ACTIVATIONS["leaky_relu"](x), rtol=1e-6)
    assert nn.LEAK == 0.2


def test_seeded_layers_start_from_the_same_weights(keras):
    """With a seed, two builds of a spec start from identical kernels; without, they differ."""
    a = nn.keras_weights(nn.build_keras(SPEC, (14, 14, 2), "a", seed=7), SPEC)
    b = nn.keras_weights(nn.build_keras(SPEC, (14, 14, 2), "b", seed=7), SPEC)
    c = nn.keras_weights(nn.build_keras(SPEC, (14, 14, 2), "c", seed=8), SPEC)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["c1/kernel"], c["c1/kernel"])


def test_unknown_layer_type_is_a_clear_error():
    """A spec with a layer nn does not know raises ValueError naming it."""
    with pytest.raises(ValueError, match="unknown layer type 'lstm'"):
        nn.forward([{"type": "lstm", "name": "x"}], {"x/kernel": 0, "x/bias": 0}, np.zeros((1, 2)))


# ----------------------------------------------------------------------------- BLAS limiter


def test_single_threaded_limits_numpys_and_scipys_blas():
    """Inside single_threaded() every BLAS (numpy's and scipy's OpenBLAS) runs on one thread,
    even when scipy is loaded after genlib.nn; active=False leaves them alone."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    code = ("from genlib import nn\n"
            "from threadpoolctl import threadpool_info\n"
            "def blas(): return [i['num_threads'] for i in threadpool_info()"
            " if i['user_api'] == 'blas']\n"
            "with nn.single_threaded():\n"
            "    inside = blas()\n"
            "with nn.single_threaded(active=False):\n"
            "    off = blas()\n"
            "print(len(inside), set(inside), len(off))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env, cwd=ROOT, timeout=60)
    assert out.stdout.split() == ["2", "{1}", "2"], out.stdout


def test_gaussian_uses_nns_limiter():
    """genlib.gaussian limits BLAS with nn.single_threaded: one limiter in the project."""
    from genlib import gaussian, gaussian_math

    assert gaussian_math.single_threaded is nn.single_threaded
    assert not hasattr(gaussian, "_blas_controller") and not hasattr(gaussian_math,
                                                                     "_blas_controller")


def test_keras_import_drops_only_tensorflows_start_up_lines():
    """TF 2.21 prints an absl preamble and a oneDNN notice on import whatever
    TF_CPP_MIN_LOG_LEVEL says; nn.keras() drops those two, and stderr works after it."""
    pytest.importorskip("tensorflow")
    code = ("import os; from genlib import nn; nn.keras(); "
            "os.write(2, b'after the import\\n'); print('ok')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
    assert "oneDNN" not in run.stderr and "absl::InitializeLog" not in run.stderr, run.stderr
    assert "after the import" in run.stderr


def test_keras_called_during_another_threads_import_waits_for_the_whole_module():
    """A thread calling nn.keras() while ui.warmup's thread imports Keras gets the finished
    module, not the half-imported one (the GAN page's Play during the warm-up trained on
    numpy for good: "partially initialized module 'keras' has no attribute 'Sequential'")."""
    pytest.importorskip("tensorflow")
    code = """if True:
        import sys, threading, time
        from genlib import nn
        threading.Thread(target=nn.keras, daemon=True).start()
        while not ("keras" in sys.modules and "tensorflow" in sys.modules):
            time.sleep(0.001)  # the other thread is inside the import now
        k = nn.keras()
        print(hasattr(k, "Sequential") and hasattr(k, "layers"))"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "True", run.stderr
