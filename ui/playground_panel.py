"""One panel of the 2-D playground (a model on the points: its canvas, A / B / C, verdict),
the cached closed-form fits, and the A / B / C table of every model.

Closed-form models are fitted at once (cached per dataset and knob); neural ones train live
through :mod:`ui.playground_live`, their canvas redrawn from the training thread's latest
snapshot ``TICK_S`` apart, with numpy only (:mod:`genlib.playground_nets`).
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

import ui
from genlib import nn
from genlib import playground_abc as abc
from genlib import playground_data as pdata
from genlib import playground_models as pm
from genlib import playground_nets as nets
from ui import inline_image, warmup
from ui import playground_live as live
from ui import playground_view as view

S = st.session_state
N_SAMPLES = view.N_SAMPLES
N_LIVE = 300  # samples per redraw while training (4 a second: CPU taken from training)
LIVE_WIDTH = 448  # canvas pixels while training (the browser enlarges it; half the bytes)
TICK_S = 0.24  # canvas refresh while training: a little over 4 a second (0.25 measured 3.98-3.99)
TINY_BW = pm.KDE_BANDWIDTHS[0]
N_LOGLIK = 300  # held-out points whose mean log density is shown (a KDE on 7,000 is slow)
GAN_D_COLOUR = (31, 119, 180)


def accept_upload(name: str, data: bytes) -> None:
    """Parse an uploaded CSV at once: use it (``pg_upload``, the dataset choice set to it), or
    name the file and the reason in ``pg_upload_error`` and keep the data in use."""
    try:
        points = pdata.read_points_csv(data, name)
        pdata.from_points(points, source=name)  # enough distinct points to learn from?
    except ValueError as e:
        S.pg_upload_error = str(e)
        return
    S.pop("pg_upload_error", None)
    S.pg_upload = (name, hashlib.sha256(data).hexdigest()[:16], points)
    S.pg_data = "upload"


def on_upload() -> None:
    """The file uploader's callback."""
    file = S.get("pg_csv")
    if file is not None:
        accept_upload(file.name, file.getvalue())


@st.cache_data(max_entries=16, show_spinner="Making the points...")
def dataset(data_key: tuple) -> pdata.PointSet:
    """The PointSet of a data key (see the page's ``data_ui``)."""
    if data_key[0] == "upload":
        _, file, digest, held, seed = data_key
        name, have, points = S.get("pg_upload", (None, None, None))
        if have != digest:
            raise ValueError("the uploaded file is gone; upload it again")
        return pdata.from_points(points, seed=seed, held_out=held, source=file)
    name, n, noise, held, seed = data_key
    return pdata.make_dataset(name, n, noise, seed, held)


@st.cache_resource(max_entries=8)
def train_tree(data_key: tuple):
    """The training points' KD-tree, shared read-only (A / B / C asks it on every redraw)."""
    from scipy.spatial import cKDTree

    return cKDTree(dataset(data_key).train)


@st.cache_data(max_entries=16)
def threshold(data_key: tuple) -> float:
    return abc.copy_threshold(dataset(data_key))


def label(choice: dict) -> str:
    m = choice["model"]
    if m == "gmm":
        return f"Gaussian mixture, k = {choice['k']}"
    if m == "kde":
        return f"KDE, bandwidth {choice['bw']:g}"
    return pm.MODELS[m].split(" (")[0]


def fit_message(model: str, param, n_train: int) -> str:
    """What a closed-form fit is doing, for its spinner (shown when it takes over 0.5 s)."""
    if model == "gmm":
        return (f"Fitting {param} Gaussians to {n_train:,} points by EM (every step weighs "
                f"each point against each component: {param * n_train:,} pairs)...")
    if model == "kde":
        return f"Placing a kernel on each of {n_train:,} points and painting the density..."
    return "Fitting the Gaussian..."


@st.cache_data(max_entries=48, show_spinner=False)  # show() names the fit in its spinner
def closed_form(data_key: tuple, model: str, param) -> dict:
    """Fit, sample, classify, score held-out points and paint the density: one cached dict."""
    with nn.single_threaded():  # small products: BLAS threads cost more than they save
        return _closed_form(dataset(data_key), data_key, model, param)


def _closed_form(points, data_key: tuple, model: str, param) -> dict:
    seed = data_key[-1]
    kw = {"k": param} if model == "gmm" else {"bandwidth": param} if model == "kde" else {}
    m = pm.make_model(model, seed=seed, **kw).fit(points.train)
    samples = m.sample(N_SAMPLES, rng=seed + 1)
    loglik = float(np.mean(m.score_samples(points.held_out[:N_LOGLIK])))
    name = label({"model": model, "k": param, "bw": param})
    row = view.figures(name, samples, points, threshold(data_key), loglik)
    heat = np.round(view.density_heat(m, points.extent) * 255).astype(np.uint8)  # 1/8 the bytes
    return {"row": row, "samples": samples, "heat": heat}


@st.cache_data(max_entries=64, show_spinner="Fitting the table's models...")
def closed_row(data_key: tuple, model: str, param) -> dict:
    """Only the table row of :func:`closed_form` (what the table needs, cheap to unpickle)."""
    return closed_form(data_key, model, param)["row"]


def _param(choice: dict):
    return choice.get("k", choice.get("bw"))


# On a phone Streamlit stacks columns: keep the four shares on one row (they are short)
NARROW_CSS = """<style>@media (max-width: 640px) {
  [class*="st-key-pg_metrics_"] [data-testid="stHorizontalBlock"] { flex-direction: row; }
  [class*="st-key-pg_metrics_"] [data-testid="stColumn"] { min-width: 0; flex: 1 1 0; }
  [class*="st-key-pg_metrics_"] [data-testid="stMetricValue"] { font-size: 1.4rem; }
}</style>"""


# While a panel trains, the page redraws 4 times a second and Chromium (no GPU on a server-
# class machine: software rendering) re-ran its CSS fades and animations on every redraw;
# with them off, training kept markedly more of the CPU in a test (two cores shared with the
# browser). Only while playing: the next rerun (Pause) removes this style.
LIVE_CSS = """<style>*, *::before, *::after {
  transition: none !important; animation: none !important; }</style>"""


def _metrics(row: dict, key: str) -> None:
    c = st.container(key=f"pg_metrics_{key}").columns(4)
    c[0].metric("A: off-support", f"{row['A: off-support']:.0%}")
    c[1].metric("B: copies", f"{row['B: copy']:.0%}")
    c[2].metric("C: good", f"{row['C: good']:.0%}")
    ll = row["Held-out log-lik / point"]
    c[3].metric("Held-out log-lik", "n/a" if ll is None else f"{ll:.2f}",
                help=f"Mean log density of {N_LOGLIK} held-out points (nats); defined for the "
                     "Gaussian, the mixture and the KDE.")
    st.markdown(f"**{ui.plain(row['Verdict'])}**")


def show(choice: dict, data_key: tuple, points: pdata.PointSet) -> dict | None:
    """Draw a panel; return its A / B / C row (None for a neural model not trained yet or
    training now)."""
    slot, model = choice["slot"], choice["model"]
    if model not in pm.NEURAL:
        with st.spinner(fit_message(model, _param(choice), len(points.train))):
            r = closed_form(data_key, model, _param(choice))
        heat = st.toggle("Density heat map", True, key=f"pg_heat_{slot}")
        c = view.samples_canvas(points, r["samples"], r["row"]["_labels"],
                                r["heat"] / 255.0 if heat else None)
        inline_image.image(c.png(), width="stretch",
                           caption="Grey: training points. Samples: red = A (off-support), "
                                   "orange = B (copy), green = C (good).")
        _metrics(r["row"], slot)
        return r["row"]
    return _neural(choice, data_key, points)


def _views_ui(slot: str, model: str) -> dict:
    if model == "gan":
        c = st.columns(3)
        return {"d": c[0].toggle("D's score", True, key=f"pg_gan_d_{slot}",
                                 help="Blue where D says real, white where it says fake"),
                "grid": c[1].toggle("G's image of a z grid", False, key=f"pg_gan_grid_{slot}"),
                "grad": c[2].toggle("Fakes' gradients", True, key=f"pg_gan_grad_{slot}",
                                    help="Where G's loss pushes each fake (up D's score)")}
    if model == "flow":
        c = st.columns(2)
        return {"arrows": c[0].toggle("Velocity arrows", True, key=f"pg_flow_v_{slot}"),
                "paths": c[1].toggle("Particles flowing", True, key=f"pg_flow_p_{slot}"),
                "t": st.slider("Time t of the arrows and particles (0 = noise, 1 = data)",
                               0.0, 1.0, 1.0, 0.05, key=f"pg_flow_t_{slot}")}
    return {"grid": st.toggle("Decoder's image of a z grid", True, key=f"pg_vae_grid_{slot}")}


def neural_figures(snap: dict, points, thr: float, seed: int, n: int = N_SAMPLES,
                   tree=None) -> tuple:
    """(sampler, samples, row) of a trainer's snapshot, from ``n`` samples."""
    s = nets.sampler(snap)
    samples = s.sample(n, rng=seed + 1)
    row = view.figures(f"{pm.MODELS[snap['family']].split(' (')[0]} (step {snap['step']:,})",
                       samples, points, thr, tree=tree)
    return s, samples, row


def neural_canvas(s, samples, labels, points, views: dict, seed: int,
                  width: int = view.WIDTH, live_frame: bool = False) -> bytes:
    """The canvas of a trained network as PNG bytes; a ``live_frame`` (while training, 4 a
    second) is a JPEG with D's score on a coarser grid: a third of the server's time."""
    family = s.family
    heat, colour = None, view.HEAT
    if family == "gan" and views.get("d"):  # on a coarse grid: D on every pixel took seconds
        heat = view.coarse_heat(s.score, points.extent, width, 40 if live_frame else 96)
        colour = GAN_D_COLOUR
    c = view.samples_canvas(points, samples, labels, heat, colour, width=width)
    if views.get("grid"):
        c.lines(s.z_grid(), (90, 90, 90))
    if family == "gan" and views.get("grad"):
        few = samples[:100]
        c.arrows(few, s.gradients(few), (20, 20, 20), length=0.3)
    if family == "flow":
        t = float(views.get("t", 1.0))
        if views.get("arrows"):
            grid = view.velocity_grid(points.extent)
            c.arrows(grid, s.velocity(grid, t), (80, 80, 80), length=0.35)
        if views.get("paths"):
            paths = s.paths(60, rng=seed + 2)
            upto = int(round(t * (len(paths) - 1)))
            c.lines(np.transpose(paths[: upto + 1], (1, 0, 2)), (106, 61, 154))
            c.points(paths[upto], (106, 61, 154), 2.5)
    return c.jpeg() if live_frame else c.png()


def _neural(choice: dict, data_key: tuple, points) -> dict | None:
    slot, model = choice["slot"], choice["model"]
    warmup.start()  # TensorFlow loads while the user reads: Play then starts at once
    ctl = live.PanelLive(slot, model, data_key, points.train, data_key[-1], choice["lr"])
    if ctl.stopped:
        st.error(f"Training stopped: {ui.plain(ctl.stopped)}", icon=":material/error:")
    b = st.columns(3)
    if ctl.playing:
        b[0].button("Pause", key=f"pg_pause_{slot}", icon=":material/pause:", type="primary",
                    width="stretch", on_click=live.pause, args=(slot,))
    else:
        b[0].button("Play", key=f"pg_play_{slot}", icon=":material/play_arrow:",
                    type="primary", width="stretch", on_click=live.play, args=(slot,))
    b[1].button(f"Step ({live.STEP_N})", key=f"pg_step_{slot}", icon=":material/skip_next:",
                width="stretch", on_click=live.step, args=(slot,))
    b[2].button("Reset", key=f"pg_reset_btn_{slot}", icon=":material/restart_alt:",
                width="stretch", on_click=live.reset, args=(slot,),
                help="New random weights (same seed)")
    views = _views_ui(slot, model)
    with ui.user_errors("Could not train: "):
        ctl.sync()
    if ctl.playing:
        st.html(LIVE_CSS)
    thr, seed, tree = threshold(data_key), data_key[-1], train_tree(data_key)

    @st.fragment(run_every=TICK_S if ctl.ticking else None)
    def live_view() -> None:
        if not ctl.heartbeat():
            st.rerun()
        snap = ctl.snapshot()
        st.caption(f":material/memory: {ctl.status()}")
        if snap is None:
            c = view.samples_canvas(points, np.zeros((0, 2)), np.zeros(0, str))
            inline_image.image(c.png(), width="stretch",
                               caption="The training points; samples appear after the first "
                                       "steps.")
            return
        with nn.single_threaded():  # threads woken per small product cost 17x here
            s, samples, row = neural_figures(snap, points, thr, seed,
                                             N_LIVE if ctl.playing else N_SAMPLES, tree)
            frame = neural_canvas(s, samples, row["_labels"], points, views, seed,
                                  LIVE_WIDTH if ctl.playing else view.WIDTH, ctl.playing)
        inline_image.image(frame, width="stretch",
                           caption=f"Step {snap['step']:,}. Samples: red = A, orange = B, "
                                   "green = C.")
        if ctl.playing:  # one line, not five elements, 4 times a second
            st.markdown(f"**A** {row['A: off-support']:.0%} · **B** {row['B: copy']:.0%} · "
                        f"**C** {row['C: good']:.0%} of {N_LIVE} samples. "
                        f"{ui.plain(row['Verdict'])}")
        else:
            _metrics(row, slot)

    live_view()
    snap = ctl.snapshot()
    if snap is None or ctl.playing:  # the table below is drawn once per page run: a playing
        return None  # model's row there would be stale at once (its panel shows its shares)
    with nn.single_threaded():
        return neural_figures(snap, points, thr, seed, tree=tree)[2]


def abc_table(data_key: tuple, points, rows: dict) -> list[dict]:
    """Every closed-form model at the panels' knobs (and the tiny-bandwidth KDE, the copying
    reference), plus the panels' trained neural models: one row each, no duplicates."""
    out, seen = [], set()
    knobs = [("gaussian", None), ("gmm", 30), ("kde", 0.02), ("kde", TINY_BW)]
    for row in rows.values():
        if row is not None:
            out.append(row)
            seen.add(row["Model"])
    for model, param in knobs:
        r = closed_row(data_key, model, param)
        if r["Model"] not in seen:
            out.append(r)
            seen.add(r["Model"])
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in out]
