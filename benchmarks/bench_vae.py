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


def _page_rerender_ms(repeat: int = 7) -> float:
    """Median server time of the VAE page re-running after a slider move (AppTest)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("pages/3_VAE_Latent_Space.py").run()
    slider = at.slider(key="vae_z_conv_0")
    times = []
    for k in range(repeat + 1):
        slider.set_value(round(-2.0 + 0.5 * k, 2))
        t = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t)
        if at.exception:
            raise RuntimeError(at.exception)
    return statistics.median(times[1:]) * 1000


def rows():
    os.environ.setdefault("GENLAB_OFFLINE", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from genlib import load_mnist, vae

    mnist = load_mnist("sample")
    models = {name: vae.load_model(name) for name in vae.SHIPPED}
    z1 = np.zeros((1, 4), np.float32)
    yield _row("slider decode, tutorial (numpy)",
               _median_ms(lambda: models["tutorial"].decode(z1)), "ms", "< 1 ms")
    zc = np.zeros((1, models["conv"].latent_dim), np.float32)
    yield _row(f"slider decode, conv {models['conv'].latent_dim}-D (numpy)",
               _median_ms(lambda: models["conv"].decode(zc)), "ms", "< 1 ms")
    zc = zc.ravel()
    yield _row("11 x 11 latent grid PNG as on the page, conv (numpy + PIL)",
               _median_ms(lambda: vae.latent_grid_png(models["conv"], zc, (0, 1), n=11, scale=2),
                          20), "ms", "< 50 ms")

    yield _row("page re-render after a slider move (AppTest, server)", _page_rerender_ms(),
               "ms", "< 150 ms")

    # Keras for comparison: the same tutorial decoder, weights copied in.
    import keras

    model = models["tutorial"]
    config = {**model.config}
    _, decoder = vae.build_keras(config)
    for layer in model.spec["decoder"]:
        decoder.get_layer(layer["name"]).set_weights(
            [model.weights[layer["name"] + "/kernel"], model.weights[layer["name"] + "/bias"]])
    probs = keras.Sequential([decoder, keras.layers.Activation("sigmoid")])
    yield _row("slider decode, tutorial (Keras model.predict)",
               _median_ms(lambda: probs.predict(z1, verbose=0), 30), "ms", "(reference)")

    t = time.perf_counter()
    trained = vae.train(mnist, "tutorial", epochs=50)
    yield _row("train tutorial preset, 50 epochs on the 4,000-digit sample split",
               time.perf_counter() - t, "s", "< 15 s")
    yield _row("  its held-out -ELBO (fresh run)",
               trained.negative_elbo(mnist.test.images, n_samples=5)["total"], "nats", "~145")

    for name, m in models.items():
        target = "<= 115" if name == "conv" else "(reference)"
        yield _row(f"held-out -ELBO, shipped {name!r} ({m.latent_dim}-D)",
                   m.negative_elbo(mnist.test.images, n_samples=5)["total"], "nats", target)


if __name__ == "__main__":
    for r in rows():
        print(r)
