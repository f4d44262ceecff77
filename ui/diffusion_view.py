"""The Diffusion page's helpers: cached model and trajectories, its controls, its pictures.

A trajectory is computed once per (seed, digit, guidance, steps, sampler) and kept in a
:class:`TrajectoryView`, which also keeps every picture the scrubber asks for: moving the
scrubber only looks up PNG bytes (nothing is sampled or decoded again). Nothing here imports
TensorFlow.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import streamlit as st

from genlib import diffusion as df
from genlib import images as gim
from ui import url

DIGITS = ["unconditional", *map(str, range(10))]
SAMPLER_LABELS = {"euler": "Deterministic (Euler ODE = DDIM)",
                  "stochastic": "Stochastic (DDPM-like)"}
GUIDANCE_MAX = 8.0  # the slider's range; genlib accepts up to 20
STRIP_FRAMES = 11
GRID_COLS = 8


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


@st.cache_resource(show_spinner="Loading the flow-matching model...", max_entries=2)
def load_model(preset: str = "latent") -> df.DiffusionModel:
    """The shipped model (read-only numpy weights, shared by every session)."""
    return df.DiffusionModel.load_pretrained(preset)


def controls_ui(model: df.DiffusionModel) -> Settings:
    """Digit, guidance, steps, sampler and seed, all in the URL (checked before binding)."""
    d = model.defaults
    url.guard({"df_digit": url.choice(DIGITS),
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

    def step_png(self, k: int) -> bytes:
        """x_t and the clean guess at step k, side by side, large."""
        def make():
            pair = np.stack([self.traj.images[k, 0], self.traj.guess_images[k, 0]])
            return gim.to_png(gim.tile(pair, 2, pad=2), scale=8)
        return self._memo(("step", int(k)), make)


@st.cache_resource(show_spinner="Running the sampler...", max_entries=24)
def trajectory_view(preset: str, s: Settings) -> TrajectoryView:
    return TrajectoryView(load_model(preset), s)


# ----------------------------------------------------------------------------- other pictures


@st.cache_data(show_spinner="Sampling a grid...", max_entries=16)
def sample_grid(preset: str, s: Settings) -> tuple[np.ndarray, np.ndarray | None]:
    """GRID_COLS samples per digit (one row each), or 80 unconditional ones."""
    model = load_model(preset)
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
def forward_strip_png(preset: str, image: np.ndarray, seed: int) -> bytes:
    """Both pictures at t = 0, 0.1, ..., 1 (latent top, pixels bottom)."""
    model = load_model(preset)
    pairs = [forward_pictures(model, image, t, seed) for t in np.linspace(0, 1, 11)]
    return gim.to_png(gim.tile(np.stack([p[0] for p in pairs] + [p[1] for p in pairs]), 11,
                               pad=3), scale=3)


@st.cache_data(show_spinner="Sampling both priors...", max_entries=8)
def priors(preset: str, seed: int, n: int = 100) -> dict:
    """100 samples of each prior, and codes to plot: training codes, N(0, I), learned."""
    model = load_model(preset)
    vae, space = model.space.vae, model.space
    rng = np.random.default_rng(seed)
    z_vae = rng.standard_normal((n, vae.latent_dim)).astype(np.float32)
    x_flow = df.integrate(model.field(np.full(n, df.NULL_CLASS), 0.0), rng.standard_normal(
        (n, vae.latent_dim)).astype(np.float32), df.time_grid(model.defaults["steps"]))[0][-1]
    z_flow = x_flow * space.std + space.mean
    return {"vae_images": vae.decode(z_vae), "flow_images": vae.decode(z_flow),
            "z_vae": z_vae, "z_flow": z_flow}


@st.cache_data(show_spinner=False, max_entries=4)
def training_codes(preset: str, _mnist, data_key: str, n: int = 600) -> np.ndarray:
    """Mean codes of ``n`` training digits drawn at random (the split may be sorted by class)."""
    idx = np.random.default_rng(0).permutation(len(_mnist.train))[:n]
    return load_model(preset).space.vae.encode(_mnist.train.images[np.sort(idx)])[0]


def busiest_dims(codes: np.ndarray) -> tuple[int, int]:
    """The two latent dimensions along which the codes spread most."""
    order = np.argsort(-np.asarray(codes).std(0))
    return int(order[0]), int(order[1])
