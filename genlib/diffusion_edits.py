"""Editing with a trained flow model: SDEdit on a given digit, interpolation between noises.

Both only run a :class:`genlib.diffusion.DiffusionModel`'s field through
:func:`genlib.diffusion.integrate`; numpy only, vectorised over the images and frames.

SDEdit (Meng et al. 2022): noise an input to time t along the forward path,
``x_t = (1 - t) x_0 + t eps``, and integrate back to t = 0. At t = 0 nothing is noised and
the input comes back; at t = 1 the input is gone (a fresh sample). In between, the coarse
shape survives longer than the details: :func:`sdedit` returns the whole strip over t, with
the same noise ``eps`` at every t, and :func:`similarity` measures how much of the input is
left.

Interpolation: two starting noises z_a, z_b and the frames between them, each carried to a
digit by the *deterministic* sampler (the same noise always gives the same digit, so the
strip changes only because the noise does). The frames follow the great circle between the
two (spherical interpolation): a straight line's midpoint has norm ~0.71 of a typical noise
vector's, a point the model never starts from, and decodes to a faint blur.
"""

from __future__ import annotations

from numbers import Integral
from typing import NamedTuple

import numpy as np

from genlib import diffusion as df

__all__ = ["SDEdit", "Interpolation", "sdedit", "interpolate", "slerp", "similarity",
           "steps_from", "check_images"]

MAX_FRAMES = 64


class SDEdit(NamedTuple):
    """times (k,); noised (k, n, 28, 28): x_t decoded; edited (k, n, 28, 28): the result of
    denoising from each t; steps (k,): sampler steps taken from each t."""

    times: np.ndarray
    noised: np.ndarray
    edited: np.ndarray
    steps: np.ndarray


class Interpolation(NamedTuple):
    """alphas (k,) from 0 to 1; noise (k, ...) the starting noises; images (k, 28, 28)."""

    alphas: np.ndarray
    noise: np.ndarray
    images: np.ndarray


def check_images(images) -> np.ndarray:
    """(28, 28) or (n, 28, 28) finite values in [0, 1] -> float32 (n, 28, 28); else ValueError."""
    try:
        x = np.asarray(images, np.float32)
    except (TypeError, ValueError):
        raise ValueError("images must be an array of numbers") from None
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
        raise ValueError(f"images must have shape (28, 28) or (n, 28, 28), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("images contain NaN or infinite values")
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"image values must be in [0, 1], got {x.min():.3g} to {x.max():.3g}")
    return x


def _check_times(times) -> np.ndarray:
    t = np.atleast_1d(np.asarray(times, np.float64))
    if t.ndim != 1 or len(t) == 0 or len(t) > MAX_FRAMES:
        raise ValueError(f"give 1 to {MAX_FRAMES} times")
    if not np.all(np.isfinite(t)) or t.min() < 0 or t.max() > 1:
        raise ValueError("every t must be a number in [0, 1] (0: the input, 1: pure noise)")
    return t.astype(np.float32)


def steps_from(t: float, steps: int) -> int:
    """Sampler steps from time t: the same step size as ``steps`` steps from 1 (at least 1)."""
    return 0 if t <= 0 else max(1, int(np.ceil(steps * t - 1e-6)))


def _classes(digit, n: int) -> np.ndarray:
    return np.full(n, df.NULL_CLASS if digit is None else digit, np.int64)


def sdedit(model, images, times, rng=None, digit=None, guidance=None, steps=None,
           sampler=None) -> SDEdit:
    """Noise ``images`` to each of ``times`` and denoise them back to t = 0.

    Parameters
    ----------
    model : a :class:`genlib.diffusion.DiffusionModel`
    images : (28, 28) or (n, 28, 28) in [0, 1]
    times : 1-64 values in [0, 1]; at t = 0 the input itself comes back
    digit : the class to denoise towards (0-9), or None (unconditional: nothing asked)
    guidance, steps, sampler : as :meth:`DiffusionModel.sample` (None: the preset's
        defaults); from time t the sampler takes ``steps_from(t, steps)`` steps
    rng : the noise ``eps`` (one per image, the same at every t), then the stochastic
        sampler's

    Results at t > 0 go through the model's space: for the latent preset that is the VAE, so
    even a tiny t gives the VAE's reconstruction of the input, not the input.
    """
    rng = np.random.default_rng(rng)
    x = check_images(images)
    t_values = _check_times(times)
    d = model.defaults
    guidance, steps, sampler, digit = df.check_settings(
        d["guidance"] if guidance is None else guidance, d["steps"] if steps is None else steps,
        d["sampler"] if sampler is None else sampler, digit)
    if isinstance(digit, str):
        raise ValueError("sdedit denoises towards one digit (0-9) or None, not 'all'")
    x0 = model.space.encode(x)
    eps = rng.standard_normal(x0.shape).astype(np.float32)
    field = model.field(_classes(digit, len(x)), guidance)
    noised, edited, taken = [], [], []
    for t in t_values:
        k = steps_from(float(t), steps)
        taken.append(k)
        if k == 0:
            noised.append(x)
            edited.append(x)
            continue
        xt = df.forward_process(x0, t, eps)
        xs, _ = df.integrate(field, xt, df.time_grid(k, float(t)), sampler, rng)
        both = model.space.decode(np.concatenate([xt, xs[-1]]))
        noised.append(both[:len(x)])
        edited.append(both[len(x):])
    return SDEdit(t_values, np.stack(noised).astype(np.float32),
                  np.clip(np.stack(edited), 0, 1).astype(np.float32), np.array(taken))


def slerp(a, b, alphas) -> np.ndarray:
    """Spherical interpolation between arrays ``a`` and ``b``: (k, *a.shape).

    Exactly ``a`` at alpha 0 and ``b`` at 1; falls back to a straight line when the two are
    (anti)parallel, where the great circle is not defined.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    alphas = np.asarray(alphas, np.float64).reshape(-1, *([1] * a.ndim))
    cos = np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-300)
    theta = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(theta) < 1e-6:
        out = (1 - alphas) * a + alphas * b
    else:
        out = (np.sin((1 - alphas) * theta) * a + np.sin(alphas * theta) * b) / np.sin(theta)
    out[alphas.reshape(-1) == 0] = a
    out[alphas.reshape(-1) == 1] = b
    return out.astype(np.float32)


def interpolate(model, seeds=(0, 1), n_frames: int = 9, digit=None, guidance=None,
                steps=None) -> Interpolation:
    """Digits along the great circle between the starting noises of two seeds.

    The noise of seed s is the one ``model.sample(1, rng=s, ...)`` starts from, so the two
    end frames are exactly those samples (with the Euler sampler). ``n_frames`` in 2-64.
    """
    if isinstance(n_frames, bool) or not isinstance(n_frames, Integral | np.integer) \
            or not 2 <= n_frames <= MAX_FRAMES:
        raise ValueError(f"n_frames must be a whole number from 2 to {MAX_FRAMES}, "
                         f"got {n_frames!r}")
    if len(seeds) != 2 or any(isinstance(s, bool) or not isinstance(s, Integral | np.integer)
                              or s < 0 for s in seeds):
        raise ValueError(f"give two seeds, whole numbers >= 0, got {seeds!r}")
    d = model.defaults
    guidance, steps, _, digit = df.check_settings(
        d["guidance"] if guidance is None else guidance, d["steps"] if steps is None else steps,
        "euler", digit)
    if isinstance(digit, str):
        raise ValueError("interpolate between noises for one digit (0-9) or None, not 'all'")
    za, zb = (np.random.default_rng(int(s)).standard_normal((1, *model.space.shape))
              .astype(np.float32)[0] for s in seeds)
    alphas = np.linspace(0, 1, int(n_frames))
    noise = slerp(za, zb, alphas)
    xs, _ = df.integrate(model.field(_classes(digit, len(noise)), guidance), noise,
                         df.time_grid(steps), "euler")
    return Interpolation(alphas.astype(np.float32), noise,
                         np.clip(model.space.decode(xs[-1]), 0, 1).astype(np.float32))


def similarity(images, reference) -> np.ndarray:
    """Pixel correlation of each image with ``reference`` (same shape or broadcastable):
    1 the same picture, ~0 unrelated. A flat image (no variance) scores 0."""
    a = np.asarray(images, np.float64).reshape(*np.shape(images)[:-2], -1)
    b = np.broadcast_to(np.asarray(reference, np.float64).reshape(
        *np.shape(reference)[:-2], -1), a.shape)
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    return np.where(den > 0, (a * b).sum(-1) / np.where(den > 0, den, 1), 0.0)
