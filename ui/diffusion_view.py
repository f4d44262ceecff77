"""The Diffusion page's helpers: cached model and trajectories, its controls, its pictures.

A trajectory is computed once per (seed, digit, guidance, steps, sampler) and kept in a
:class:`TrajectoryView`, which also keeps every picture the scrubber asks for: moving the
scrubber only looks up PNG bytes (nothing is sampled or decoded again). Nothing here imports
TensorFlow.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

import numpy as np
import streamlit as st

import ui
from genlib import diffusion as df
from genlib import images as gim
from ui import charts, evaluation, inline_image, url

DIGITS = ["unconditional", *map(str, range(10))]
SAMPLER_LABELS = {"euler": "Deterministic (Euler ODE = DDIM)",
                  "stochastic": "Stochastic (DDPM-like)"}
GUIDANCE_MAX = 8.0  # the slider's range; genlib accepts up to 20
STRIP_FRAMES = 11
GRID_COLS = 8
# On a phone the main picture comes first: the intro and the controls go under the tabs, and a
# line in the Reverse tab says where they went (hidden on wider screens).
NARROW_CSS = """<style>
@media (max-width: 640px) {
  .st-key-df_controls, .st-key-df_intro,
  div:has(> .st-key-df_controls), div:has(> .st-key-df_intro) { order: 1; }
  .st-key-df_rev_main, div:has(> .st-key-df_rev_main) { order: -1; }
}
@media (min-width: 641px) { .st-key-df_phone_hint { display: none; } }
</style>"""


@dataclass(frozen=True)
class Settings:
    digit: int | None  # None: unconditional
    guidance: float
    steps: int
    sampler: str
    seed: int

    def sample_kwargs(self, digit="same") -> dict:
        return {"digit": self.digit if digit == "same" else digit,
                "guidance": self.guidance, "steps": self.steps, "sampler": self.sampler}


@st.cache_resource(show_spinner="Loading the flow-matching model...", max_entries=4)
def load_model(preset: str = "latent", path: str | None = None,
               stamp: int = 0) -> df.DiffusionModel:
    """The shipped model, or the file at ``path`` (a user's training; ``stamp`` its mtime
    keys the cache). Read-only numpy weights, shared by every session."""
    if path is None:
        return df.DiffusionModel.load_pretrained(preset)
    return df.DiffusionModel.load(path)


def model_source(preset: str, mine: bool) -> tuple:
    """What :func:`load_model` and every picture cache are keyed by: (preset, path, stamp);
    ``mine``: the user's trained file (genlib.diffusion_train's cache path) if it exists."""
    from genlib import diffusion_train as dtr  # no TensorFlow at import

    path = dtr.user_weights_path(preset)
    if mine and path.exists():
        return preset, str(path), path.stat().st_mtime_ns
    return preset, None, 0


def controls_ui(model: df.DiffusionModel, tabs: list[str]) -> Settings:
    """Digit, guidance, steps, sampler and seed, all in the URL (checked before binding, with
    the page's tab, ``df_tab``, one of ``tabs``)."""
    d = model.defaults
    url.guard({"df_tab": url.choice(tabs),
               "df_digit": url.choice(DIGITS),
               "df_guidance": url.number(0.0, GUIDANCE_MAX),
               "df_steps": url.integer(1, df.MAX_STEPS),
               "df_sampler": url.choice(list(SAMPLER_LABELS)),
               "df_seed": url.integer(0, 2**31 - 1)})
    link_sampler()
    a, b, c, e, f = st.columns([1.1, 1.5, 1.5, 2.7, 1], vertical_alignment="bottom")
    digit = a.selectbox("Digit", DIGITS, index=4, key="df_digit", bind="query-params",
                        help="The class the model is asked for; unconditional: the null class")
    guidance = b.slider("Guidance scale", 0.0, GUIDANCE_MAX, float(d["guidance"]), step=0.25,
                        key="df_guidance", bind="query-params", disabled=digit == DIGITS[0],
                        help="v = v_null + w (v_class − v_null): 0 unconditional, 1 plain "
                             "class-conditional, more: truer to the class, less varied")
    steps = c.slider("Steps", 1, df.MAX_STEPS, int(d["steps"]), key="df_steps",
                     bind="query-params", help="Steps from t = 1 (noise) to t = 0 (data)")
    sampler = e.radio("Sampler", list(SAMPLER_LABELS), format_func=SAMPLER_LABELS.get,
                      key="df_sampler", horizontal=True)
    url.follow("df_sampler", sampler, d["sampler"])
    seed = f.number_input("Seed", 0, 2**31 - 1, 0, key="df_seed", bind="query-params")
    return Settings(None if digit == DIGITS[0] else int(digit), float(guidance), int(steps),
                    sampler, int(seed))


def link_sampler() -> None:
    """Apply ``?df_sampler=`` once (the radio shows labels, so it is bound by hand)."""
    value = st.query_params.get("df_sampler")
    if value in SAMPLER_LABELS and "df_sampler" not in st.session_state:
        st.session_state["df_sampler"] = value


# ----------------------------------------------------------------------------- the trajectory


class TrajectoryView:
    """One sampler run and the pictures of it, made on first request and kept."""

    def __init__(self, model: df.DiffusionModel, s: Settings):
        self.traj = model.trajectory(1, rng=s.seed, **s.sample_kwargs())
        self.steps = len(self.traj.times) - 1
        self._png: dict = {}
        self._lock = threading.Lock()  # sessions share this object

    def _memo(self, key, make):
        with self._lock:
            if key not in self._png:
                self._png[key] = make()
            return self._png[key]

    def frames(self) -> np.ndarray:
        """The steps the strip shows: at most STRIP_FRAMES, first and last included."""
        return np.unique(np.linspace(0, self.steps, min(STRIP_FRAMES, self.steps + 1))
                         .round().astype(int))

    def strip_png(self, k: int) -> bytes:
        """Two rows, x_t (top) and the clean guess (bottom), the frame nearest step k lit."""
        def make():
            idx = self.frames()
            near = int(np.argmin(np.abs(idx - k)))
            dim = np.where(np.arange(len(idx)) == near, 1.0, 0.35)[:, None, None]
            top = self.traj.images[idx, 0] * dim
            bottom = self.traj.guess_images[idx, 0] * dim
            return gim.to_png(gim.tile(np.concatenate([top, bottom]), len(idx), pad=3), scale=3)
        return self._memo(("strip", int(k)), make)

    def gif(self, max_frames: int = 60, ms: int = 120) -> bytes:
        """The run as an animated GIF: x_t beside the clean guess, noise to digit, the last
        frame held for a second. At most ``max_frames`` frames (steps evenly picked)."""
        def make():
            from PIL import Image

            idx = np.unique(np.linspace(0, self.steps, min(max_frames, self.steps + 1))
                            .round().astype(int))
            pics = [Image.fromarray(gim.upscale(gim.to_uint8(gim.tile(np.stack(
                [self.traj.images[k, 0], self.traj.guess_images[k, 0]]), 2, pad=2)), 6),
                mode="L") for k in idx]
            buf = io.BytesIO()
            pics[0].save(buf, format="GIF", save_all=True, append_images=pics[1:], loop=0,
                         duration=[ms] * (len(pics) - 1) + [1000])
            return buf.getvalue()
        return self._memo(("gif",), make)

    def step_png(self, k: int) -> bytes:
        """x_t and the clean guess at step k, side by side, large."""
        def make():
            pair = np.stack([self.traj.images[k, 0], self.traj.guess_images[k, 0]])
            return gim.to_png(gim.tile(pair, 2, pad=2), scale=8)
        return self._memo(("step", int(k)), make)


@st.cache_resource(show_spinner="Running the sampler...", max_entries=24)
def trajectory_view(source: tuple, s: Settings) -> TrajectoryView:
    return TrajectoryView(load_model(*source), s)


# ----------------------------------------------------------------------------- other pictures


@st.cache_data(show_spinner="Sampling a grid...", max_entries=16)
def sample_grid(source: tuple, s: Settings) -> tuple[np.ndarray, np.ndarray | None]:
    """GRID_COLS samples per digit (one row each), or 80 unconditional ones."""
    model = load_model(*source)
    if s.digit is None:
        images, _ = model.sample(10 * GRID_COLS, rng=s.seed, **s.sample_kwargs())
        return images, None
    rows = [model.sample(GRID_COLS, rng=[s.seed, k], **s.sample_kwargs(digit=k)).images
            for k in range(10)]
    return np.concatenate(rows), np.repeat(np.arange(10), GRID_COLS)


@st.cache_data(show_spinner=False, max_entries=8)
def real_digit(_mnist, data_key: str, digit: int, which: int) -> np.ndarray:
    """The ``which``-th held-out digit of class ``digit`` (wrapping around)."""
    idx = np.flatnonzero(_mnist.test.labels == digit)
    if len(idx) == 0:
        raise ValueError(f"the held-out digits hold no {digit}")
    return np.asarray(_mnist.test.images[idx[which % len(idx)]], np.float32)


def forward_pictures(model: df.DiffusionModel, image: np.ndarray, t: float, seed: int):
    """(latent x_t decoded, pixel-space x_t shown in [0, 1]) for one digit at time t.

    The pixel picture maps the digit to [-1, 1] first, as a pixel-space model would, so its
    noise has the same scale as the latent one.
    """
    rng = np.random.default_rng(seed)
    x0 = model.space.encode(image[None])
    latent = model.space.decode(df.forward_process(x0, t, rng.standard_normal(x0.shape)))[0]
    p0 = 2 * image - 1
    pixel = (df.forward_process(p0, t, rng.standard_normal(p0.shape)) + 1) / 2
    return latent, np.clip(pixel, 0, 1)


@st.cache_data(show_spinner=False, max_entries=16)
def forward_strip_png(source: tuple, image: np.ndarray, seed: int) -> bytes:
    """Both pictures at t = 0, 0.1, ..., 1 (latent top, pixels bottom)."""
    model = load_model(*source)
    pairs = [forward_pictures(model, image, t, seed) for t in np.linspace(0, 1, 11)]
    return gim.to_png(gim.tile(np.stack([p[0] for p in pairs] + [p[1] for p in pairs]), 11,
                               pad=3), scale=3)


@st.cache_data(show_spinner="Sampling both priors...", max_entries=8)
def priors(source: tuple, seed: int, n: int = 100) -> dict:
    """100 samples of each prior, and codes to plot: training codes, N(0, I), learned."""
    model = load_model(*source)
    vae, space = model.space.vae, model.space
    rng = np.random.default_rng(seed)
    z_vae = rng.standard_normal((n, vae.latent_dim)).astype(np.float32)
    x_flow = df.integrate(model.field(np.full(n, df.NULL_CLASS), 0.0), rng.standard_normal(
        (n, vae.latent_dim)).astype(np.float32), df.time_grid(model.defaults["steps"]))[0][-1]
    z_flow = x_flow * space.std + space.mean
    return {"vae_images": vae.decode(z_vae), "flow_images": vae.decode(z_flow),
            "z_vae": z_vae, "z_flow": z_flow}


@st.cache_data(show_spinner=False, max_entries=4)
def training_codes(source: tuple, _mnist, data_key: str, n: int = 600) -> np.ndarray:
    """Mean codes of ``n`` training digits drawn at random (the split may be sorted by class)."""
    idx = np.random.default_rng(0).permutation(len(_mnist.train))[:n]
    return load_model(*source).space.vae.encode(_mnist.train.images[np.sort(idx)])[0]


def busiest_dims(codes: np.ndarray) -> tuple[int, int]:
    """The two latent dimensions along which the codes spread most."""
    order = np.argsort(-np.asarray(codes).std(0))
    return int(order[0]), int(order[1])


# ----------------------------------------------------------------------------- tab bodies


def forward_ui(source: tuple, model: df.DiffusionModel, mnist, s: Settings) -> None:
    """A real digit, the time t, x_t in latent and pixel space, the shares, the schedule."""
    a, b, c = st.columns([1, 1, 3])
    digit = a.selectbox("Real digit", range(10), index=3, key="df_fwd_digit")
    which = b.number_input("Which one", 0, 999, 0, key="df_fwd_which")
    t = c.slider("Time t", 0.0, 1.0, 0.5, step=0.01, key="df_fwd_t",
                 help="0: the digit, 1: pure noise")
    with ui.user_errors():
        image = real_digit(mnist, evaluation.dataset_key(mnist), digit, which)
        latent, pixel = forward_pictures(model, image, t, s.seed)
        p1, p2, p3, m = st.columns([1, 1, 1, 1.3])
        inline_image.image(gim.to_png(image, scale=6), where=p1, caption="x₀, a held-out digit")
        pixel_model = isinstance(model.space, df.PixelSpace)  # its own x_t is the pixels'
        if not pixel_model:
            inline_image.image(gim.to_png(latent, scale=6), where=p2,
                               caption=f"Latent x_t at t = {t:.2f}, decoded")
        inline_image.image(gim.to_png(pixel, scale=6), where=p3,
                           caption=f"Pixel-space x_t at t = {t:.2f}")
        m.metric("Signal share 1 − t", f"{1 - t:.0%}")
        m.metric("Noise share t", f"{t:.0%}")
        m.metric("Signal-to-noise ((1 − t)/t)²", "∞" if t == 0 else f"{((1 - t) / t) ** 2:.3g}")
        inline_image.image(forward_strip_png(source, image, s.seed),
                           caption="t = 0, 0.1, ..., 1, two draws of the noise: what this "
                                   "pixel-space model sees." if pixel_model else
                                   "t = 0, 0.1, ..., 1. Top: noise added to the 16-D code, "
                                   "decoded by the VAE (noisy codes still decode to smooth "
                                   "blobs). Bottom: noise added to the pixels, for intuition "
                                   "(what a pixel-space model sees).")
    c1, c2 = st.columns(2)
    c1.vega_lite_chart(charts.diffusion_schedule_chart(t), width="stretch", key="df_sched")
    c2.vega_lite_chart(charts.diffusion_snr_chart(t), width="stretch", key="df_snr")


def prior_ui(source: tuple, mnist, s: Settings) -> None:
    """The conv VAE's N(0, I) prior beside the flow's learned prior, judged, and their codes."""
    st.markdown(
        "A VAE samples by decoding $z \\sim \\mathcal{N}(0, I)$. But its encoder does not "
        "fill that Gaussian: the training digits' codes leave **holes**, and prior draws that "
        "land there decode to blends of digits. Flow matching over the codes learns where the "
        "codes really are: a **learned prior** for the same decoder (here unconditional).")
    p = priors(source, s.seed)
    left, right = st.columns(2)
    for col, name, key, caption in (
            (left, "vae_images", "df_vae_prior", "The VAE's prior: z ~ N(0, I), decoded"),
            (right, "flow_images", "df_flow_prior",
             "The learned prior: z from the flow (guidance 0), same decoder")):
        with col:
            ui.show_grid(p[name], 10, key=key, scale=3, caption=caption)
            try:
                r = evaluation.figures(p[name], mnist)
            except ValueError as e:  # e.g. too few held-out digits to judge against
                st.info(f"Cannot judge these samples on this dataset: {ui.plain(e)}",
                        icon=":material/info:")
                continue
            a, b = st.columns(2)
            a.metric("Judge confidence", f"{r['confidence']:.0%}",
                     help="The judge CNN's mean top probability: ~98% on real digits, lower "
                          "on blends it cannot place")
            b.metric("Digit coverage", f"{r['entropy']:.2f} nats",
                     help="Entropy of the judged digits; ln 10 = 2.30: every digit equally")
    codes = training_codes(source, mnist, evaluation.dataset_key(mnist))
    dims = busiest_dims(codes)
    st.vega_lite_chart(charts.diffusion_prior_chart(
        {"training digits' codes": codes[:300], "N(0, I) draws": p["z_vae"],
         "learned prior draws": p["z_flow"]}, dims), width="stretch", key="df_prior_chart")
    st.caption(f"The two latent dimensions along which the training codes spread most "
               f"(z{dims[0] + 1}, z{dims[1] + 1}). The Compare page scores both on 1,000 "
               "samples (Frechet distance: lower is better).")
