"""VAE explorer figures: decode latency, page re-render, training time, held-out -ELBO.

Run: .venv/bin/python -m benchmarks.run vae
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _median_ms(fn, repeat: int = 200) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def _row(name, value, unit, target):
    return {"benchmark": name, "value": float(value), "unit": unit, "target": target}


def _page_rerender_ms(repeat: int = 7) -> tuple[float, float]:
    """Median server time of the VAE page re-running after a slider move (AppTest).

    Returns (whole script, explorer fragment). AppTest's ``at.run()`` re-runs the whole
    script; a browser re-runs only the ``@st.fragment`` the slider lives in. The second figure
    asks AppTest's script runner for such a fragment-scoped rerun (the request a browser
    sends), through AppTest internals: NaN if this Streamlit version lacks them.
    """
    from streamlit.testing.v1 import AppTest
    from streamlit.testing.v1 import local_script_runner as lsr

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("pages/3_VAE_Latent_Space.py").run()

    def moves() -> float:
        times = []
        for k in range(repeat + 1):
            # z1 is not one of the grid's two dims: every move decodes a new 11 x 11 grid
            at.slider(key="vae_z_conv_0").set_value(round(-2.0 + 0.5 * k, 2))
            t = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t)
            if at.exception:
                raise RuntimeError(at.exception)
        return statistics.median(times[1:]) * 1000

    whole = moves()
    fragments = list(getattr(getattr(at, "_fragment_storage", None), "_fragments", {}))
    rerun_data = getattr(lsr, "RerunData", None)
    if len(fragments) != 1 or rerun_data is None:
        return whole, float("nan")
    lsr.RerunData = lambda **kw: rerun_data(**kw, fragment_id_queue=fragments)
    try:
        return whole, moves()
    finally:
        lsr.RerunData = rerun_data


def rows():
    os.environ.setdefault("GENLAB_OFFLINE", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from genlib import load_mnist, vae, vae_train
    from ui import vae_explorer

    mnist = load_mnist("sample")
    models = {name: vae.load_model(name) for name in vae.SHIPPED}
    z1 = np.zeros((1, 4), np.float32)
    yield _row("slider decode, tutorial (numpy)",
               _median_ms(lambda: models["tutorial"].decode(z1)), "ms", "< 1 ms")
    zc = np.zeros((1, models["conv"].latent_dim), np.float32)
    yield _row(f"slider decode, conv {models['conv'].latent_dim}-D (numpy)",
               _median_ms(lambda: models["conv"].decode(zc)), "ms", "< 1 ms")
    zc = zc.ravel()
    grid_png = vae_explorer.latent_grid_png
    yield _row("latent grid PNG, conv: decode 11 x 11 + encode (slider off it)",
               _median_ms(lambda: grid_png(models["conv"], zc, (0, 1), n=11, scale=2), 20),
               "ms", "< 50 ms")
    grid = vae.latent_grid(models["conv"], zc, (0, 1), n=11)
    yield _row("latent grid PNG, conv: encode only (its own slider, new cell)",
               _median_ms(lambda: grid_png(models["conv"], zc, (0, 1), n=11, scale=2,
                                           grid=grid), 20), "ms", "(reference)")

    if "conv_best" in models and vae.shipped_path("conv_best").exists():
        best = models["conv_best"]
        zb = np.zeros((1, best.latent_dim), np.float32)
        yield _row("slider decode, conv_best (wider decoder, numpy)",
                   _median_ms(lambda: best.decode(zb)), "ms", "< 1 ms")
        yield _row("latent grid PNG, conv_best: decode 11 x 11 + encode",
                   _median_ms(lambda: grid_png(best, zb.ravel(), (0, 1), n=11, scale=2), 20),
                   "ms", "< 50 ms")
        yield _row("100 prior samples, conv_best (learned mixture, numpy)",
                   _median_ms(lambda: best.sample(100, rng=0), 20), "ms", "(reference)")

    whole, fragment = _page_rerender_ms()
    yield _row("slider move: page re-render, whole script (AppTest at.run)", whole,
               "ms", "< 150 ms")
    yield _row("slider move: explorer fragment re-run (as a browser does)", fragment,
               "ms", "< 150 ms")

    # Keras for comparison: the same tutorial decoder, weights copied in.
    import keras

    model = models["tutorial"]
    config = {**model.config}
    _, decoder = vae_train.build_keras(config)
    for layer in model.spec["decoder"]:
        decoder.get_layer(layer["name"]).set_weights(
            [model.weights[layer["name"] + "/kernel"], model.weights[layer["name"] + "/bias"]])
    probs = keras.Sequential([decoder, keras.layers.Activation("sigmoid")])
    yield _row("slider decode, tutorial (Keras model.predict)",
               _median_ms(lambda: probs.predict(z1, verbose=0), 30), "ms", "(reference)")

    t = time.perf_counter()
    trained = vae_train.train(mnist, "tutorial", epochs=50)
    yield _row("train tutorial preset, 50 epochs on the 4,000-digit sample split",
               time.perf_counter() - t, "s", "< 15 s")
    yield _row("  its held-out -ELBO (fresh run)",
               trained.negative_elbo(mnist.test.images, n_samples=5)["total"], "nats", "~145")

    for name, m in models.items():
        target = {"conv": "<= 115", "conv_best": "<= 100"}.get(name, "(reference)")
        yield _row(f"held-out -ELBO, shipped {name!r} ({m.latent_dim}-D)",
                   m.negative_elbo(mnist.test.images, n_samples=5)["total"], "nats", target)


if __name__ == "__main__":
    for r in rows():
        print(r)
