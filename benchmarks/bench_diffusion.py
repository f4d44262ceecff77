"""Flow matching figures: scoreboard rows (latent and pixel presets), learned vs N(0, I) prior,
sampling speed in numpy against Keras, latent against pixel.

Run (under the bench lock):
    flock /tmp/genlab-bench.lock .venv/bin/python -m benchmarks.run diffusion

Extra measurements used to choose the design (not part of ``rows()``):
``python -m benchmarks.bench_diffusion objectives A.npz B.npz ...`` (Frechet distance to the
*training* digits of checkpoints trained with other targets or codes) and
``python -m benchmarks.bench_diffusion defaults [preset]`` (guidance x steps on the training
digits) and ``python -m benchmarks.bench_diffusion curve A.npz B.npz ...`` (training steps and
minutes of each checkpoint against its Frechet distance to the training digits at its defaults).
Defaults are chosen on training digits, never on the held-out ones the scoreboard uses.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LATENT_ROW = "Latent flow matching (conv VAE codes)"
PIXEL_ROW = "Pixel flow matching (U-Net)"
VAE_ROW = "VAE, convolutional"


def _row(name, value, unit, target):
    return {"benchmark": name, "value": float(value), "unit": unit, "target": target}


def _setup():
    from genlib.classifier import judge_for
    from genlib.data import load_mnist

    mnist = load_mnist("sample")
    judge, _ = judge_for(mnist.kind)
    return mnist, judge


def train_fd(model, mnist, judge, n: int = 1000, seed: int = 1, **kw) -> tuple[float, float]:
    """(Frechet distance to the training digits, class consistency) of n samples."""
    from genlib import metrics

    feats = getattr(train_fd, "_feats", None)
    if feats is None:
        feats = train_fd._feats = judge.features(mnist.train.images)
    images, labels = model.sample(n, rng=seed, digit="all", **kw)
    pred, _, f = judge.predict_all(images)
    return metrics.frechet_distance(f, feats), metrics.class_consistency(pred, labels)


def objectives(paths: list[str]) -> None:
    from genlib.diffusion import DiffusionModel

    mnist, judge = _setup()
    for p in paths:
        model = DiffusionModel.load(p)
        for g in (1.0, 1.5):
            fd, cc = train_fd(model, mnist, judge, guidance=g, steps=20, sampler="euler")
            print(f"{Path(p).stem:<24} target={model.target:<8} step={model.manifest['step']}"
                  f" guidance={g}: FD(train) {fd:6.2f}  consistency {cc:.1%}", flush=True)


def curve(paths: list[str]) -> None:
    from genlib.diffusion import DiffusionModel

    mnist, judge = _setup()
    for p in paths:
        model = DiffusionModel.load(p)
        fd, cc = train_fd(model, mnist, judge)
        m = model.manifest
        print(f"{Path(p).name:<24} step {m['step']:>7,} {m['train_seconds'] / 60:6.1f} min "
              f"FD(train) {fd:6.2f}  consistency {cc:.1%}", flush=True)


def defaults(preset: str = "latent") -> None:
    from genlib.diffusion import DiffusionModel

    mnist, judge = _setup()
    model = DiffusionModel.load_pretrained(preset)
    for sampler in ("euler", "stochastic"):
        for steps in (5, 10, 20, 50):
            for g in (0.0, 1.0, 1.5, 2.0, 3.0):
                fd, cc = train_fd(model, mnist, judge, guidance=g, steps=steps, sampler=sampler)
                print(f"{sampler:<10} steps={steps:<3} guidance={g:<4} FD(train) {fd:6.2f} "
                      f"consistency {cc:.1%}", flush=True)


def _keras_loop_seconds(model, n: int = 16, steps: int = 20, guidance: float = 1.5,
                        repeat: int = 5) -> float:
    """The same sampler with the denoiser run by Keras' predict_on_batch (then decoded)."""
    from genlib import diffusion as df
    from genlib import nn

    net = model.net
    keras_net = nn.build_keras(net.spec, (net.in_dim,), "denoiser")
    nn.set_keras_weights(keras_net, net.spec, net.weights)
    classes = np.arange(n) % 10
    null = np.full(n, df.NULL_CLASS)

    def run():
        x = np.random.default_rng(0).standard_normal((n, net.dim)).astype(np.float32)
        for t, s in zip(df.time_grid(steps)[:-1], df.time_grid(steps)[1:]):
            inp = np.concatenate([df.MLPDenoiser.inputs(x, t, classes, net.dim),
                                  df.MLPDenoiser.inputs(x, t, null, net.dim)])
            out = np.asarray(keras_net.predict_on_batch(inp))
            v = out[n:] + guidance * (out[:n] - out[n:])
            x = x + (s - t) * v
        return model.space.decode(x)

    run()
    return statistics.median(_timed(run) for _ in range(repeat))


def _keras_unet_loop(model, n: int = 16, steps: int = 20, guidance: float = 1.5):
    """The pixel preset's sampler with its U-Net run by Keras' predict_on_batch: a callable."""
    from genlib import diffusion as df
    from genlib.denoisers_keras import build_unet, set_named_weights, variable_names

    net = model.net
    keras_net = build_unet(net.channels, net.emb, net.groups, net.patch)
    set_named_weights(keras_net.trainable_variables, variable_names(keras_net), net.weights)
    classes = np.concatenate([np.arange(n) % 10, np.full(n, df.NULL_CLASS)])

    def run():
        x = np.random.default_rng(0).standard_normal((n, 28, 28, 1)).astype(np.float32)
        for t, s in zip(df.time_grid(steps)[:-1], df.time_grid(steps)[1:]):
            cond = net.condition(t, classes, 2 * n)
            out = np.asarray(keras_net.predict_on_batch([np.concatenate([x, x]), cond]))
            v = out[n:] + guidance * (out[:n] - out[n:])
            x = x + (s - t) * v
        return model.space.decode(x)

    run()
    return run


def _pixel_side_by_side(model, rounds: int = 7) -> dict:
    """Seconds (medians) of numpy on every core, numpy on one, and the Keras loop, taken in
    turns within each round: a burst of load from other work hits all three alike."""
    def numpy_run(workers):
        def run():
            model.net.WORKERS = workers
            try:
                model.sample(16, rng=0, digit="all", guidance=1.5, steps=20)
            finally:
                model.net.WORKERS = None
        run()
        return run

    runs = {"numpy": numpy_run(None), "one core": numpy_run(1),
            "keras": _keras_unet_loop(model)}
    times = {k: [] for k in runs}
    for _ in range(rounds):
        for k, run in runs.items():
            times[k].append(_timed(run))
    return {k: statistics.median(v) for k, v in times.items()}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def speed_rows():
    """16 digits, 20 guided steps, for each shipped preset: numpy, Keras' loop, their ratio."""
    from genlib.diffusion import DiffusionModel

    today = time.strftime("%Y-%m-%d")
    seconds = {}
    for preset in ("latent", "pixel"):
        try:
            model = DiffusionModel.load_pretrained(preset)
        except ValueError:  # not shipped yet
            continue
        if preset == "pixel":
            t = _pixel_side_by_side(model)
            np_s, keras_s = t["numpy"], t["keras"]
        else:
            np_s = statistics.median(
                _timed(lambda m=model: m.sample(16, rng=0, digit="all", guidance=1.5,
                                                steps=20)) for _ in range(7))
            keras_s = _keras_loop_seconds(model)
        seconds[preset] = np_s
        yield _row(f"{preset}: 16 digits, 20 steps, guidance 1.5: numpy ({today})",
                   np_s * 1000, "ms", "<= 1500")
        if preset == "pixel":  # its parts run on one thread per core; on one alone:
            yield _row(f"{preset}: same in numpy on one core", t["one core"] * 1000, "ms", "")
        yield _row(f"{preset}: same in a Keras predict_on_batch loop", keras_s * 1000, "ms", "")
        yield _row(f"{preset}: Keras loop / numpy", keras_s / np_s, "x", ">= 1")
    if len(seconds) == 2:
        yield _row("pixel / latent sampling time (numpy)", seconds["pixel"] / seconds["latent"],
                   "x", "")


def rows():
    from genlib import scoreboard as sb

    mnist, judge = _setup()
    reference = sb.prepare_reference(mnist, judge)
    today = time.strftime("%Y-%m-%d")
    shorts = {LATENT_ROW: "latent flow", PIXEL_ROW: "pixel flow", VAE_ROW: "conv VAE N(0,I)"}
    targets = {LATENT_ROW: "<= 15 (issue 16)", PIXEL_ROW: "<= 10 (issue 13)",
               VAE_ROW: "today 32.8"}
    for name in [n for n in shorts if n in sb.available_models(mnist.kind)]:
        model = sb.load_model(name, mnist)
        r = sb.score_model(name, model, reference, judge, 1000, 0, likelihood=False)
        short = shorts[name]
        yield _row(f"{short}: Frechet distance ({today})", r["frechet"], "", targets[name])
        yield _row(f"{short}: coverage (Naeem)", r["coverage"], "", "real ~0.95")
        yield _row(f"{short}: density (Naeem)", r["density"], "", "real ~1")
        if r["class_consistency"] is not None:
            yield _row(f"{short}: class consistency", r["class_consistency"], "", ">= 0.97")
        yield _row(f"{short}: digit coverage", r["coverage_entropy"], "nats", ">= 2.28")
        yield _row(f"{short}: memorisation ratio", r["memorisation_ratio"], "", ">= 0.9")
        yield _row(f"{short}: 1,000 samples drawn in", r["sample_seconds"], "s", "")
    yield from speed_rows()
    from benchmarks.common import apptest_rerun_time

    page = "pages/6_Diffusion.py"
    yield _row("page: warm re-run (AppTest, whole script)", apptest_rerun_time(page) * 1000,
               "ms", "")
    yield _row("page: scrubber move (whole script; a browser reruns only its fragment)",
               apptest_rerun_time(page, lambda at, i: at.slider(key="df_scrub")
                                  .set_value(i % 20)) * 1000, "ms", "<= 150")
    yield _row("page: new seed (new trajectory, grid and priors)",
               apptest_rerun_time(page, lambda at, i: at.number_input(key="df_seed")
                                  .set_value(100 + i)) * 1000, "ms", "")
    yield from browser_rows()


def browser_rows(repeat: int = 5):
    """The page in Chromium: warm open to a trajectory (TensorFlow never loaded by the server),
    a scrubber key press to the new picture, Play's frames per second."""
    from benchmarks.common import served_browser

    page_path = "pages/6_Diffusion.py"
    with served_browser() as (server, browser):
        from playwright.sync_api import expect
        from server import open_page

        def open_once(path=page_path, shown=".st-key-df_main_picture img") -> float:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                t0 = time.perf_counter()
                open_page(tab, server, path)
                expect(tab.locator(shown)).to_be_visible()
                return time.perf_counter() - t0
            finally:
                tab.close()

        cold = open_once()
        warm = statistics.median(open_once() for _ in range(repeat))
        open_once("app.py", "h1")
        home = statistics.median(open_once("app.py", "h1") for _ in range(repeat))
        maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
        tf = "tensorflow" in maps
        yield _row(f"page: open in Chromium, cold / warm server ({time.strftime('%Y-%m-%d')})",
                   cold, "s", "")
        yield _row("page: warm open in Chromium showing a trajectory", warm, "s", "<= 2.5")
        yield _row("home page: warm open, same run (how loaded the machine is)", home, "s",
                   "0.64 at load 2.4")
        yield _row("server imported TensorFlow (1 = yes)", float(tf), "", "0")
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        open_page(tab, server, page_path)
        picture = tab.locator(".st-key-df_main_picture")
        thumb = tab.locator(".st-key-df_scrub").get_by_role("slider")
        thumb.focus()
        moves = []
        for k in range(19, 9, -1):
            t0 = time.perf_counter()
            thumb.press("ArrowLeft")
            expect(picture).to_contain_text(f"Step {k}/20")
            moves.append(time.perf_counter() - t0)
        yield _row("page: scrubber key press to the new picture (Chromium)",
                   statistics.median(moves) * 1000, "ms", "")
        thumb.press("End")
        expect(picture).to_contain_text("Step 20/20")
        tab.evaluate("""() => { window.seen = []; new MutationObserver(() => {
            const m = document.querySelector('.st-key-df_main_picture')?.innerText
                .match(/Step (\\d+)\\//);
            if (m && window.seen.at(-1)?.[0] !== +m[1])
              window.seen.push([+m[1], performance.now()]);
          }).observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
        play = tab.locator(".st-key-df_play").get_by_role("button").first
        play.click()
        expect(play).to_contain_text("Pause")
        expect(play).to_contain_text("Play", timeout=60_000)
        seen = tab.evaluate("window.seen")
        span = (seen[-1][1] - seen[0][1]) / 1000
        yield _row("page: Play, frames shown per second (20 steps)", (len(seen) - 1) / span,
                   "/s", "4 asked (0.25 s a frame)")
        tab.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["objectives"]:
        objectives(sys.argv[2:])
    elif sys.argv[1:2] == ["defaults"]:
        defaults(*sys.argv[2:3])
    elif sys.argv[1:2] == ["curve"]:
        curve(sys.argv[2:])
    elif sys.argv[1:2] == ["speed"]:
        for r in speed_rows():
            print(f"{r['benchmark']:<60} {r['value']:>10.3f} {r['unit']:<5} {r['target']}")
    elif sys.argv[1:2] == ["page"]:
        for r in browser_rows():
            print(f"{r['benchmark']:<60} {r['value']:>10.3f} {r['unit']:<5} {r['target']}")
    else:
        for r in rows():
            print(f"{r['benchmark']:<60} {r['value']:>10.3f} {r['unit']:<5} {r['target']}")
