"""Flow matching (rectified flow) on MNIST: the numpy model and its samplers (Keras trains it,
in :mod:`genlib.diffusion_train`).

The process, in the terms GenLab uses everywhere (page, tests, training)
-----------------------------------------------------------------------
Time runs from data (t = 0) to noise (t = 1) along a straight line::

    x_t = (1 - t) x_0 + t eps,        eps ~ N(0, I)

so the signal share is ``1 - t``, the noise share ``t`` and the signal-to-noise ratio
``((1 - t) / t)^2``. Along one such line the velocity ``dx_t/dt = eps - x_0`` is constant;
the network learns its conditional mean ``v(x_t, t, y) = E[eps - x_0 | x_t, y]`` by least
squares (flow matching, Lipman et al. 2023; rectified flow, Liu et al. 2023). Sampling
integrates ``dx/dt = v`` from pure noise at t = 1 back to t = 0. At every step the model's
current guess of the clean sample is ``x_0_hat = x_t - t v`` (and of the noise,
``eps_hat = x_t + (1 - t) v``): the page shows both.

Why velocity on a straight path (measured 2026-12-03, ``benchmarks/bench_diffusion.py
objectives``): the same MLP trained 8,000 steps on the same codes to predict the velocity, the
clean sample x_0 or the noise eps (DDPM's target) on this path, sampled with 20 / 5 Euler steps
at guidance 1.5, Frechet distance to the training digits (judge features, 1,000 samples):
velocity 5.2 / 7.5, clean 5.6 / 8.0, noise 9.7 / 16.6 (and only 83% / 66% of the samples the
asked-for digit, against 99%). Noise prediction has to divide by ``1 - t`` to get x_0, which
blows its error up near pure noise where sampling starts; x_0 prediction divides by ``t`` near
the data; velocity divides by nothing. Training on posterior samples of the codes rather than
their means: 5.2 against 5.6. The three targets are one parameter apart (:data:`TARGETS`): a
checkpoint says which one it predicts and the samplers convert.

How DDPM and DDIM relate: DDPM uses the variance-preserving path
``x_t = alpha_t x_0 + sigma_t eps`` with ``alpha_t^2 + sigma_t^2 = 1``; the straight path is
``alpha_t = 1 - t``, ``sigma_t = t``. DDIM's deterministic update, written on this path, is
exactly the Euler step (tested); DDPM's ancestral update is :data:`SAMPLERS`
``"stochastic"`` (the posterior ``q(x_s | x_t, x_0 = x_0_hat)`` of the Markov chain with these
marginals).

Classifier-free guidance (Ho and Salimans 2021): the network sees the digit class, or the
*null* class 10 (dropped in during training), and sampling uses
``v = v_null + w (v_class - v_null)``: ``w = 0`` is the unconditional model, ``w = 1`` the
plain class-conditional one, ``w > 1`` trades variety for class fidelity.

Presets
-------
``"latent"``
    Stable Diffusion's design in miniature: the flow runs over the 16-D codes of the shipped
    convolutional VAE (:mod:`genlib.vae`, standardised per dimension), the denoiser is a small
    MLP over ``[x_t, time features, one-hot class]``, and samples are decoded by the VAE. It is
    also the conv VAE's *learned prior*: the VAE samples z ~ N(0, I), which falls in the holes
    between its digits' codes; this model samples where the codes are.

``"pixel"``
    The flow runs over the images themselves, scaled to ``2 x - 1``
    (:class:`genlib.denoisers.PixelSpace`); the denoiser is a small class-conditional U-Net
    (:class:`genlib.denoisers.UNetDenoiser`: 2 x 2 patches, 14 x 14 x 32 then 7 x 7 x 64 and
    back, GroupNorm, the time and class embedding added in every block), trained with the
    same velocity target and null class. Nothing to decode, and nothing borrowed from
    another model; each step costs a U-Net pass instead of a small MLP's.

Both presets have the same shape: a space with ``encode`` / ``decode`` and a denoiser with
``__call__(x, t, classes)`` (:mod:`genlib.denoisers`); the samplers here never look inside
either.

numpy only: nothing here imports TensorFlow.
"""

from __future__ import annotations

from numbers import Integral, Real
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genlib import checkpoints, denoisers
from genlib.denoisers import (
    N_CLASSES,
    N_FREQUENCIES,
    NULL_CLASS,
    MLPDenoiser,
    PixelSpace,
    architecture,
    time_features,
)
from genlib.protocol import Samples, check_n_samples

__all__ = ["PRESETS", "TARGETS", "SAMPLERS", "NULL_CLASS", "MAX_GUIDANCE", "MAX_STEPS",
           "DEFAULTS", "forward_process", "time_features", "convert", "integrate",
           "time_grid", "Trajectory", "MLPDenoiser", "LatentSpace", "DiffusionModel",
           "shipped_path", "check_settings", "N_CLASSES", "N_FREQUENCIES", "architecture",
           "PixelSpace"]

FAMILY = "diffusion"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
TARGETS = ("velocity", "noise", "clean")
SAMPLERS = {"euler": "deterministic (ODE, Euler = DDIM)",
            "stochastic": "stochastic (DDPM-like ancestral steps)"}
MAX_STEPS = 200
MAX_GUIDANCE = 20.0
T_EPS = 1e-3  # the "noise" and "clean" targets divide by 1 - t or t: never by less than this

PRESETS = {
    "latent": {"kind": "latent", "vae": "conv", "hidden": 256, "layers": 3,
               "target": "velocity", "batch_size": 256, "learning_rate": 1e-3,
               "ema": 0.999, "p_uncond": 0.1, "posterior_samples": True},
    "pixel": {"kind": "pixel", "channels": [32, 64], "patch": 2, "emb": 64, "groups": 8,
              "target": "velocity", "batch_size": 128, "learning_rate": 1e-3, "ema": 0.999,
              "p_uncond": 0.1},
}
SHIPPED = {"latent": "diffusion_latent", "pixel": "diffusion_pixel"}
# Sampling defaults of each preset, chosen on the *training* digits (never the held-out ones
# the scoreboard uses; ``bench_diffusion defaults``, 2026-12-03): Euler, 20 steps, guidance 1.5
# had Frechet distance 4.9 and 99.4% class consistency; guidance 1: 7.1 / 93%, 3: 7.1 / 100%;
# 5 steps: 6.7, 50 steps: 4.6 (2.5x the time for little gain).
DEFAULTS = {"latent": {"guidance": 1.5, "steps": 20, "sampler": "euler"},
            "pixel": {"guidance": 1.5, "steps": 20, "sampler": "euler"}}


# ----------------------------------------------------------------------------- the process


def forward_process(x0, t, eps):
    """``x_t = (1 - t) x_0 + t eps`` (``t`` a scalar or broadcastable to ``x0``)."""
    t = np.asarray(t, np.float32)
    return (1 - t) * np.asarray(x0, np.float32) + t * np.asarray(eps, np.float32)


def convert(out, x_t, t, target: str = "velocity") -> tuple[np.ndarray, np.ndarray]:
    """A network's output -> (velocity, clean guess x_0_hat) at (x_t, t).

    ``target`` says what the network predicts (:data:`TARGETS`); all three are affine in the
    output, so guidance can mix raw outputs before converting.
    """
    t = np.asarray(t, np.float32).reshape(-1, *([1] * (np.ndim(x_t) - 1)))
    if target == "velocity":
        v = out
        return v, x_t - t * v
    if target == "noise":
        x0 = (x_t - t * out) / np.maximum(1 - t, T_EPS)
        return out - x0, x0
    if target == "clean":
        return (x_t - out) / np.maximum(t, T_EPS), out
    raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")


def time_grid(steps: int, t_start: float = 1.0) -> np.ndarray:
    """``steps + 1`` equally spaced times from ``t_start`` down to 0 (float32)."""
    return np.linspace(t_start, 0.0, int(steps) + 1, dtype=np.float32)


def _stochastic_step(x0, eps, t: float, s: float, rng) -> np.ndarray:
    """One DDPM-like (ancestral) step t -> s < t: a draw from q(x_s | x_t, x_0 = x0).

    With alpha = 1 - t and sigma = t, the Markov chain with these marginals has
    x_t | x_s ~ N(a x_s, sigma_t^2 - a^2 sigma_s^2 ), a = alpha_t / alpha_s; its posterior is
    x_s = alpha_s x0 + sqrt(sigma_s^2 - c^2) eps + c z with the ``c`` below (DDIM, eta = 1).
    """
    a_t, a_s, s_t, s_s = 1 - t, 1 - s, t, s
    if s_s <= 0:
        return x0
    ratio = (a_t * s_s) / (a_s * s_t) if s_t > 0 else 0.0
    c = s_s * np.sqrt(max(1 - ratio ** 2, 0.0))
    z = rng.standard_normal(x0.shape).astype(np.float32)
    return (a_s * x0 + np.sqrt(max(s_s ** 2 - c ** 2, 0.0)) * eps + c * z).astype(np.float32)


def integrate(field, x, times, sampler: str = "euler", rng=None):
    """Integrate from ``times[0]`` down to ``times[-1]`` (normally 0).

    Parameters
    ----------
    field : ``field(x, t) -> (velocity, x0_hat)``, arrays shaped like ``x``
    x : float32 (n, ...) at time ``times[0]``
    times : decreasing times, e.g. :func:`time_grid`; one time (t_start = 0): no step
    sampler : a key of :data:`SAMPLERS`
    rng : for the stochastic sampler's fresh noise

    Returns
    -------
    xs : (len(times), n, ...) the state at every time (xs[0] is ``x``)
    guesses : (len(times), n, ...) the clean guess x0_hat at every time (the last is xs[-1])
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    rng = np.random.default_rng(rng)
    x = np.asarray(x, np.float32)
    xs, guesses = [x], []
    for t, s in zip(times[:-1], times[1:]):
        v, x0 = field(x, float(t))
        if sampler == "euler":
            x = (x + (s - t) * v).astype(np.float32)
        else:
            eps = x + (1 - t) * v  # the noise guess on the straight path
            x = _stochastic_step(x0, eps, float(t), float(s), rng)
        xs.append(x)
        guesses.append(np.asarray(x0, np.float32))
    guesses.append(x)
    return np.stack(xs), np.stack(guesses)


# ----------------------------------------------------------------------------- parameter checks


def _check_digit(digit):
    if digit is None or (isinstance(digit, str) and digit == "all"):
        return digit
    if isinstance(digit, bool) or not isinstance(digit, Integral | np.integer):
        raise ValueError(f"digit must be 0-9, 'all' or None (unconditional), got {digit!r}")
    if not 0 <= digit < N_CLASSES:
        raise ValueError(f"unknown class {digit}: digits are 0-9 (None for unconditional)")
    return int(digit)


def check_settings(guidance, steps, sampler, digit=None) -> tuple:
    """(guidance, steps, sampler, digit) checked: ValueError with the reason otherwise."""
    if isinstance(guidance, bool) or not isinstance(guidance, Real | np.floating):
        raise ValueError(f"guidance must be a number, got {guidance!r}")
    if not np.isfinite(guidance) or not 0 <= guidance <= MAX_GUIDANCE:
        raise ValueError(f"guidance must be between 0 (unconditional) and {MAX_GUIDANCE:g}, "
                         f"got {guidance}")
    if isinstance(steps, bool) or not isinstance(steps, Integral | np.integer):
        raise ValueError(f"steps must be a whole number, got {steps!r}")
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    return float(guidance), int(steps), sampler, _check_digit(digit)


class LatentSpace:
    """Where the latent preset's flow runs: the VAE's codes, standardised per dimension."""

    def __init__(self, vae, mean, std):
        self.vae = vae
        self.mean = np.asarray(mean, np.float32).reshape(-1)
        self.std = np.asarray(std, np.float32).reshape(-1)
        if self.mean.shape != (vae.latent_dim,) or self.std.shape != (vae.latent_dim,):
            raise ValueError(f"code statistics must have {vae.latent_dim} values")
        if not np.all(self.std > 0):
            raise ValueError("code standard deviations must be positive")
        self.shape = (vae.latent_dim,)

    def encode(self, images) -> np.ndarray:
        """Images (n, 28, 28) -> standardised mean codes (n, d)."""
        return (self.vae.encode(images)[0] - self.mean) / self.std

    def decode(self, x) -> np.ndarray:
        """Standardised codes (n, d) -> images (n, 28, 28) float32 in [0, 1]."""
        x = np.asarray(x, np.float32)
        return self.vae.decode(x.reshape(-1, self.shape[0]) * self.std + self.mean)


# ----------------------------------------------------------------------------- the model


class Trajectory(NamedTuple):
    """One run of a sampler, kept whole for the page's strip and scrubber.

    times : (k + 1,) from t_start down to 0; x : (k + 1, n, ...) the state at each time;
    guesses : (k + 1, n, ...) the clean guess at each time (the last equals x[-1]);
    images, guess_images : the same decoded, (k + 1, n, 28, 28); labels : (n,) or None
    """

    times: np.ndarray
    x: np.ndarray
    guesses: np.ndarray
    images: np.ndarray
    guess_images: np.ndarray
    labels: np.ndarray | None


class DiffusionModel:
    """A trained flow-matching model: numpy denoiser + the space it runs in.

    Follows the model protocol (:mod:`genlib`): ``sample(n_samples, rng=None, ...) ->
    Samples``, ``save(path)``, ``load(path)``, ``load_pretrained(preset)``.
    """

    def __init__(self, config: dict, weights: dict, manifest: dict | None = None, space=None):
        self.config = dict(config)
        if self.config.get("target", "velocity") not in TARGETS:
            raise ValueError(f"unknown target {self.config.get('target')!r}")
        self.target = self.config.get("target", "velocity")
        self.manifest = dict(manifest or {})
        self.path = None
        self.space = space if space is not None else self._make_space(weights)
        dim = int(np.prod(self.space.shape))
        self.net = denoisers.build(self.config, {k[4:]: v for k, v in weights.items()
                                                 if k.startswith("net/")}, dim)
        self.defaults = {**DEFAULTS.get(self.config.get("preset", "latent"), {}),
                         **self.config.get("defaults", {})}

    def _make_space(self, weights: dict):
        if self.config.get("kind") == "pixel":
            return PixelSpace()
        if self.config.get("kind") != "latent":
            raise ValueError(f"unknown diffusion kind {self.config.get('kind')!r}")
        from genlib.vae import VAE

        vae = VAE.load_pretrained(self.config.get("vae", "conv"))
        want = self.config.get("vae_sha256")
        if want and vae.manifest.get("sha256") != want:
            raise ValueError("trained on the codes of another VAE (the shipped conv VAE's "
                             "weights have changed since): retrain it")
        if "space/mean" not in weights or "space/std" not in weights:
            raise ValueError("the code statistics (space/mean, space/std) are missing")
        return LatentSpace(vae, weights["space/mean"], weights["space/std"])

    def describe(self) -> str:
        if isinstance(self.space, PixelSpace):
            return (f"pixel-space flow matching (U-Net, channels "
                    f"{'/'.join(map(str, self.config['channels']))}, predicts {self.target})")
        return (f"latent flow matching over the {self.space.shape[0]}-D codes of the conv VAE "
                f"(MLP {self.config['layers']} x {self.config['hidden']}, predicts "
                f"{self.target})")

    # -- the field

    def field(self, classes, guidance: float):
        """``field(x, t) -> (velocity, x0_hat)`` for these classes (n,) and guidance scale."""
        classes = np.asarray(classes, np.int64)
        null = np.full_like(classes, NULL_CLASS)
        uncond_only = guidance == 0 or np.all(classes == NULL_CLASS)

        def f(x, t):
            shape = x.shape
            if uncond_only:
                out = self.net(x, t, null)
            elif guidance == 1:
                out = self.net(x, t, classes)
            else:  # one pass over both halves: half the Python overhead of two
                both = self.net(np.concatenate([x, x]), t, np.concatenate([classes, null]))
                cond, unc = both[:len(x)], both[len(x):]
                out = unc + np.float32(guidance) * (cond - unc)
            return convert(out.reshape(shape), x, t, self.target)

        return f

    def _classes(self, digit, n: int, rng) -> tuple[np.ndarray, np.ndarray | None]:
        if digit is None:
            return np.full(n, NULL_CLASS, np.int64), None
        if isinstance(digit, str):  # "all": every digit equally likely
            labels = rng.integers(0, N_CLASSES, size=n).astype(np.int64)
        else:
            labels = np.full(n, digit, np.int64)
        return labels, labels

    def _settings(self, guidance, steps, sampler, digit):
        guidance = self.defaults["guidance"] if guidance is None else guidance
        steps = self.defaults["steps"] if steps is None else steps
        sampler = self.defaults["sampler"] if sampler is None else sampler
        return check_settings(guidance, steps, sampler, digit)

    # -- sampling

    def sample(self, n_samples: int, rng=None, digit=None, guidance=None, steps=None,
               sampler=None) -> Samples:
        """Draw ``n_samples`` digits: ``Samples(images (n, 28, 28), labels)``.

        Parameters
        ----------
        digit : 0-9 (that digit), "all" (each sample's digit drawn uniformly) or None
            (unconditional: the null class; labels None)
        guidance : classifier-free guidance scale in [0, 20] (0 = unconditional); None: the
            preset's default (:data:`DEFAULTS`), as ``steps`` (1-200) and ``sampler``
        rng : int, Generator or None. The starting noise is drawn first, then any labels,
            then the stochastic sampler's noise: the same seed gives the same starting noise
            whatever the digit.
        """
        rng = np.random.default_rng(rng)
        n = check_n_samples(n_samples)
        guidance, steps, sampler, digit = self._settings(guidance, steps, sampler, digit)
        x1 = rng.standard_normal((n, *self.space.shape)).astype(np.float32)
        classes, labels = self._classes(digit, n, rng)
        if n == 0:
            return Samples(np.zeros((0, 28, 28), np.float32), labels)
        xs, _ = integrate(self.field(classes, guidance), x1, time_grid(steps), sampler, rng)
        return Samples.of(self.space.decode(xs[-1]), labels)

    def trajectory(self, n_samples: int = 1, rng=None, digit=None, guidance=None, steps=None,
                   sampler=None, x=None, t_start: float = 1.0) -> Trajectory:
        """Every step of one sampler run, decoded: for a strip and a scrubber.

        ``x`` (optional, in the model's space) starts from a given state at ``t_start``
        instead of fresh noise at t = 1 (e.g. a noised real digit: SDEdit).
        """
        rng = np.random.default_rng(rng)
        n = check_n_samples(n_samples)
        guidance, steps, sampler, digit = self._settings(guidance, steps, sampler, digit)
        if not 0.0 <= float(t_start) <= 1.0:
            raise ValueError(f"t_start must be in [0, 1], got {t_start}")
        if x is None:
            x = rng.standard_normal((n, *self.space.shape)).astype(np.float32)
        x = np.asarray(x, np.float32).reshape(-1, *self.space.shape)
        classes, labels = self._classes(digit, len(x), rng)
        times = time_grid(steps, t_start) if t_start > 0 else np.zeros(1, np.float32)
        xs, guesses = integrate(self.field(classes, guidance), x, times, sampler, rng)
        k, n = xs.shape[:2]
        images = self.space.decode(xs.reshape(k * n, -1)).reshape(k, n, 28, 28)
        guess_images = self.space.decode(guesses.reshape(k * n, -1)).reshape(k, n, 28, 28)
        return Trajectory(times, xs, guesses, images, guess_images, labels)

    # -- files

    def weights(self) -> dict:
        out = {f"net/{k}": v for k, v in self.net.weights.items()}
        if isinstance(self.space, LatentSpace):
            out["space/mean"], out["space/std"] = self.space.mean, self.space.std
        return out

    def save(self, path, extra_arrays: dict | None = None) -> Path:
        """Write ``path`` (.npz) and its manifest atomically (family "diffusion")."""
        path = Path(path).expanduser().with_suffix(".npz")
        manifest = {k: v for k, v in self.manifest.items() if k != "sha256"}
        manifest = {"family": FAMILY, **manifest, "config": self.config}
        self.manifest = checkpoints.write(path, {**self.weights(), **(extra_arrays or {})},
                                          manifest)
        self.path = path
        return path

    @classmethod
    def load(cls, path) -> DiffusionModel:
        """The model saved at ``path``; ValueError naming the file if it cannot be used."""
        path = Path(path).expanduser().with_suffix(".npz")
        manifest, arrays = checkpoints.read(path, FAMILY)
        if not isinstance(manifest.get("config"), dict):
            raise ValueError(f"{checkpoints.manifest_path(path)}: not a diffusion manifest "
                             "(no model configuration in it)")
        try:
            model = cls(manifest["config"], arrays, manifest)
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: {e}") from None
        model.path = path
        return model

    @classmethod
    def load_pretrained(cls, preset: str = "latent") -> DiffusionModel:
        return cls.load(shipped_path(preset))


def shipped_path(preset: str = "latent") -> Path:
    if preset not in SHIPPED:
        raise ValueError(f"unknown diffusion preset {preset!r}; choose one of "
                         f"{', '.join(SHIPPED)}")
    return WEIGHTS_DIR / f"{SHIPPED[preset]}.npz"
