"""Train the GAN of :mod:`genlib.gan` with Keras, a few steps at a time.

:class:`GANTrainer` builds the generator and the discriminator from the specs of
:func:`genlib.gan.architecture` with :func:`genlib.nn.build_keras`, and runs a chunk of steps
per ``tf.function`` call (XLA-compiled for the mlp). It follows the trainer protocol
(``train`` / ``train_for`` / ``snapshot``, what :class:`genlib.live.LiveTraining` drives),
samples like :class:`genlib.gan.GAN`, and saves checkpoints that ``GAN.load`` reads without
TensorFlow. ``python -m genlib.train gan --help`` (:mod:`genlib.gan_cli`) trains one.

TensorFlow is imported when a trainer is built, not when this module is imported.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from genlib import checkpoints, gan, gan_step, nn
from genlib.gan import ARCHITECTURE, METRICS, N_FIXED
from genlib.gan_step import CHUNK, AdamState, compile_in_background, compiled

__all__ = ["GANTrainer", "precompile", "cli"]

HISTORY_POINTS = 2000  # metric rows kept (older ones are averaged pairwise)
D_SEED_OFFSET = 7919  # D's initial weights come from seed + this (G's from seed)


class _History:
    """Per-step metrics in bounded memory: when full, neighbouring rows are averaged in pairs
    and later rows average twice as many steps, so a long run keeps its whole shape."""

    def __init__(self, capacity: int = HISTORY_POINTS):
        self.capacity = capacity
        self.rows = np.zeros((0, 1 + len(METRICS)), np.float64)  # step, metrics...
        self.stride = 1
        self._acc = self.rows  # steps not yet averaged into a row (fewer than stride)

    def add(self, steps: np.ndarray, values: np.ndarray) -> None:
        data = np.vstack([self._acc, np.column_stack([steps, values]).astype(np.float64)])
        n = len(data) // self.stride * self.stride
        groups = data[:n].reshape(-1, self.stride, data.shape[1])
        new = groups.mean(axis=1)
        new[:, 0] = groups[:, -1, 0]  # a row is labelled by its last step
        self._acc = data[n:]
        self.rows = np.vstack([self.rows, new])
        while len(self.rows) >= self.capacity:
            m = len(self.rows) // 2 * 2
            pairs = self.rows[:m].reshape(-1, 2, self.rows.shape[1])
            merged = pairs.mean(axis=1)
            merged[:, 0] = pairs[:, 1, 0]
            self.rows = np.vstack([merged, self.rows[m:]])
            self.stride *= 2

    def as_dict(self) -> dict:
        return {"step": self.rows[:, 0].astype(np.int64),
                **{m: self.rows[:, i + 1].astype(np.float32) for i, m in enumerate(METRICS)}}

    @classmethod
    def from_dict(cls, d: dict, capacity: int = HISTORY_POINTS) -> _History:
        h = cls(capacity)
        if len(d.get("step", ())):
            h.rows = np.column_stack([np.asarray(d["step"], np.float64)]
                                     + [np.asarray(d[m], np.float64) for m in METRICS])
            h.rows = h.rows[-capacity + 1:]
        return h


def _padded(n: int) -> int:
    """Rows of the device copy of ``n`` training digits: a power of two, at least 4,096."""
    return max(4096, 1 << (int(n) - 1).bit_length())


def precompile(preset: str = "mlp", **settings) -> None:
    """Trace and compile the train step of ``preset`` with these settings once (what a page
    calls in the background when it opens, so the first Play finds it compiled).

    The step without XLA first (~4x quicker to build: a Play soon after the page opened
    starts on it), then, where the preset uses XLA, the XLA step.
    """
    # the embedded sample's size: XLA compiles per padded dataset size (see _padded)
    images = np.zeros((4000, 28, 28), np.float32)
    trainer = GANTrainer(preset, images=images, jit=False, **settings)
    trainer.warm_up()
    trainer.train(1)
    trainer.close()
    trainer = GANTrainer(preset, images=images, **settings)
    if trainer.jit:
        trainer.warm_up()
        trainer.train(1)  # XLA compiles for the shapes it sees: a real step
    trainer.close()


class GANTrainer(gan.Sampler):
    """Train a GAN on MNIST a few steps at a time, and watch it.

    Parameters
    ----------
    preset : "mlp" or "dcgan"
    seed : int, fixes the initial weights, the fixed noise and the batch/noise stream
    images : float array (n, 28, 28) in [0, 1], the training digits (default: the
        training split of ``load_mnist("auto")``)
    jit : compile the train step with XLA; default: for "mlp" only (20-40% faster after a
        1-5 s compile), since XLA's CPU convolutions are far slower than TensorFlow's
    jit_later : with ``jit``, start at once on the step without XLA (built ~4x quicker) while
        XLA compiles in a background thread, and switch when it is ready (the live page:
        a Play soon after the page opened). Both draw the same noise and batches; their
        float round-off differs.
    **settings : lr_g, lr_d, batch_size, latent_dim, d_steps, loss, label_smoothing,
        output, pack (see ``genlib.gan.RANGES``); ``latent_dim``, ``output`` and ``pack``
        are fixed once built.

    One step is ``d_steps`` discriminator updates then one generator update, each on a
    fresh batch. Metrics per step: D loss, G loss, mean D(x) on real digits and mean
    D(G(z)) on fakes (sigmoid of the logit for the non-saturating loss, the raw score for
    least squares, where 0/1 targets also put the equilibrium at 0.5).
    """

    def __init__(self, preset: str = "mlp", seed: int = 0, images=None, jit: bool | None = None,
                 jit_later: bool = False, **settings):
        self.preset = preset
        self.jit_later = bool(jit_later)
        self.seed = gan.check_seed(seed)
        self.settings = gan.validate_settings(preset, **settings)
        # XLA speeds the dense preset up; on CPU it makes the convolutions ~100x slower
        self.jit = (gan.base_preset(preset) == "mlp") if jit is None else bool(jit)
        if images is None:
            from genlib.data import load_mnist

            images = load_mnist().train.images
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) < 2:
            raise ValueError(f"images must have shape (n, 28, 28) with n >= 2, got {images.shape}")
        self.n_images = len(images)
        self.step = 0
        self.history = _History()
        self.frames = gan.Frames()
        latent = self.settings["latent_dim"]
        self.fixed_z = np.random.default_rng(self.seed).standard_normal(
            (N_FIXED, latent), dtype=np.float32)
        self.generator_spec, self.discriminator_spec = gan.architecture(
            preset, latent, self.settings["output"])
        self._build(images)

    # -- construction

    def _build(self, images: np.ndarray) -> None:
        nn.keras()
        import tensorflow as tf

        self._tf = tf
        latent = self.settings["latent_dim"]
        # The Keras models only hold this session's weights (and name them for checkpoints);
        # the compiled step is shared (see genlib.gan_step) and gets the variables as arguments.
        self.G = nn.build_keras(self.generator_spec, (latent,), "generator", seed=self.seed)
        # D sees ``pack`` images side by side as one input (PacGAN: a generator that keeps
        # drawing the same digit makes packs that look unlike real ones)
        self.D = nn.build_keras(self.discriminator_spec, (784 * self.settings["pack"],),
                                "discriminator", seed=self.seed + D_SEED_OFFSET)
        # uint8 on the device: full MNIST is 47 MB per session instead of 188 MB. A variable
        # of unknown length (one trace for every dataset), padded to a power of two rows
        # (XLA compiles per shape: 2 s for each new dataset size without the padding)
        rows = np.zeros((_padded(len(images)), 784), np.uint8)
        rows[:len(images)] = (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8).reshape(-1, 784)
        self._data = tf.Variable(rows, trainable=False, shape=tf.TensorShape([None, 784]))
        self._n_data = tf.Variable(len(images), dtype=tf.int32, trainable=False)
        self._noise = tf.Variable([self.seed, 0], dtype=tf.int64, trainable=False)
        self._d_steps = tf.Variable(self.settings["d_steps"], dtype=tf.int32, trainable=False)
        self._ls = tf.Variable(0.0, dtype=tf.float32, trainable=False)  # 1.0: least squares
        self._smooth = tf.Variable(0.0, dtype=tf.float32, trainable=False)
        self.best = self.preset in gan.BEST
        if self.best:  # G's moving average (what samples come from), R1's gamma, hinge on/off
            self._g_ema = [tf.Variable(v.value, trainable=False)
                           for v in self.G.trainable_variables]
            self._ema = tf.Variable(0.0, dtype=tf.float32, trainable=False)
            self._r1 = tf.Variable(0.0, dtype=tf.float32, trainable=False)
            self._hinge = tf.Variable(0.0, dtype=tf.float32, trainable=False)
            # G steps the average has seen (its warm-up), kept across --resume unlike Adam's
            self._ema_t = tf.Variable(0.0, dtype=tf.float32, trainable=False)
        self.opt_g = AdamState(tf, [v.value for v in self.G.trainable_variables],
                           self.settings["lr_g"])
        self.opt_d = AdamState(tf, [v.value for v in self.D.trainable_variables],
                           self.settings["lr_d"])
        self._warm: set = set()
        self.set(**{k: v for k, v in self.settings.items() if k not in ARCHITECTURE})

    def set(self, **settings) -> None:
        """Change settings while training (all but latent_dim, output and pack, fixed at build)."""
        fixed = [k for k in settings if k in ARCHITECTURE and settings[k] != self.settings[k]]
        if fixed:
            raise ValueError(f"{', '.join(fixed)} can only change at reset (build a new trainer)")
        new = gan.validate_settings(self.preset, **{**self.settings, **settings})
        self.settings = new
        self.opt_g.learning_rate.assign(new["lr_g"])  # variables: no retracing
        self.opt_d.learning_rate.assign(new["lr_d"])
        self._d_steps.assign(new["d_steps"])
        self._ls.assign(1.0 if new["loss"] == "least-squares" else 0.0)
        self._smooth.assign(new["label_smoothing"])
        if self.best:
            self._ema.assign(new["ema"])
            self._r1.assign(new["r1"])
            self._hinge.assign(1.0 if new["loss"] == "hinge" else 0.0)

    def _key(self, batch: int | None = None) -> tuple:
        s = self.settings
        return (self.preset, s["latent_dim"], s["output"], s["pack"],
                s["batch_size"] if batch is None else batch, self.jit)

    def _state(self) -> dict:
        """This session's variables, passed to the shared compiled step."""
        return {"g": [v.value for v in self.G.trainable_variables],
                "d": [v.value for v in self.D.trainable_variables],
                "opt_g": self.opt_g.state(), "opt_d": self.opt_d.state(),
                "data": self._data, "n_data": self._n_data, "noise": self._noise,
                "d_steps": self._d_steps,
                "ls": self._ls, "smooth": self._smooth,
                **({"g_ema": self._g_ema, "ema": self._ema, "r1": self._r1,
                    "hinge": self._hinge, "ema_t": self._ema_t} if self.best else {})}

    def _compiled(self, start_xla: bool = True) -> gan_step.Step:
        """The shared step to call now: XLA's, unless ``jit_later`` and it is still compiling
        (its compile then starts in the background, unless not ``start_xla``)."""
        key = self._key()
        if self.jit and self.jit_later and not compiled(*key).ready.is_set():
            if start_xla:
                compile_in_background(key, self._state())
            return compiled(*key[:-1], False)
        return compiled(*key)

    def _run(self, k: int):
        """``k`` (<= CHUNK) steps through the shared compiled function: metrics (k, 4)."""
        step = self._compiled()
        out = step.run(self._state(), self._tf.constant(k, self._tf.int32)).numpy()[:k]
        step.ready.set()
        return out

    @property
    def compiling(self) -> bool:
        """True while this trainer trains without XLA, waiting for XLA's compile."""
        return self.jit and self.jit_later and not compiled(*self._key()).ready.is_set()

    # -- training

    def warm_up(self) -> GANTrainer:
        """Trace and compile the train step now (a run of zero steps), so the first
        ``train`` call is as fast as the rest. Shared: a second trainer with the same
        architecture and batch size finds it compiled."""
        self._run(0)
        self._warm.add((self._key(), self.compiling))
        return self

    def train(self, steps: int) -> dict:
        """Run ``steps`` steps; return their metrics: step, d_loss, g_loss, d_real, d_fake."""
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
        rows = []
        left = int(steps)
        while left > 0:
            k = min(left, CHUNK)
            rows.append(self._run(k))
            left -= k
        return self._record(rows)

    def train_for(self, seconds: float, max_steps: int | None = None) -> dict:
        """Train for about ``seconds`` of wall time (at least one step); return the metrics."""
        t0 = time.perf_counter()
        rows, done, rate = [], 0, None
        while True:
            elapsed = time.perf_counter() - t0
            if done and elapsed >= seconds:
                break
            k = CHUNK if rate is None else int(np.clip((seconds - elapsed) * rate, 1, CHUNK))
            if max_steps is not None:
                k = min(k, max_steps - done)
            if k <= 0:
                break
            t1 = time.perf_counter()
            key = (self._key(), self.compiling)
            rows.append(self._run(k))
            if key in self._warm:  # a first call includes tracing and compiling
                rate = k / max(time.perf_counter() - t1, 1e-6)
            self._warm.add(key)
            done += k
        return self._record(rows)

    def close(self) -> None:
        """Drop the networks, optimizer state and data (a closed session's trainer): the
        memory goes back at once even if something still holds this object."""
        for name in ("G", "D", "opt_g", "opt_d", "_data", "_n_data", "_noise", "_d_steps", "_ls",
                     "_smooth", "_g_ema", "_ema", "_r1", "_hinge", "_ema_t"):
            self.__dict__.pop(name, None)
        self.closed = True

    def _record(self, rows: list) -> dict:
        values = np.concatenate(rows) if rows else np.zeros((0, len(METRICS)), np.float32)
        steps = np.arange(self.step + 1, self.step + 1 + len(values), dtype=np.int64)
        self.step += len(values)
        if len(values) and not np.all(np.isfinite(values)):
            bad = steps[~np.all(np.isfinite(values), axis=1)][0]
            self.history.add(steps, values)
            raise ValueError(f"training diverged at step {bad} (a loss became NaN or infinite); "
                             "lower the learning rates and reset")
        self.history.add(steps, values)
        if len(values) and self.frames.due(self.step):
            self.frames.add(self.step, self.decode(self.fixed_z))
        return {"step": steps, **{m: values[:, i] for i, m in enumerate(METRICS)}}

    # -- looking

    def _generate(self, z: np.ndarray) -> np.ndarray:
        fn = compiled(*self._key()).decode
        return fn(self._sampled_g(), self._tf.constant(z)).numpy()

    def _sampled_g(self) -> list:
        """The generator weights samples come from: the moving average for a best preset."""
        if self.best:
            return list(self._g_ema)
        return [v.value for v in self.G.trainable_variables]

    def _g_layer_vars(self):
        """(layer name, kind, trained variable, sampled variable) of every generator weight."""
        index = {id(v): i for i, v in enumerate(self.G.trainable_variables)}
        sampled = self._g_ema if self.best else self.G.trainable_variables
        for layer in self.G.layers:
            for var, kind in zip(layer.weights, ("kernel", "bias")):
                yield layer.name, kind, var, sampled[index[id(var)]]

    def snapshot(self) -> dict:
        """Numpy-only state for display.

        Returns
        -------
        dict with ``step``; ``history``: dict of arrays (step, d_loss, g_loss, d_real,
        d_fake), bounded to ``HISTORY_POINTS`` rows; ``fixed``: float32 (64, 28, 28), the
        generator on the fixed noise now; ``frames``: (steps, uint8 grids) for the scrubber.
        """
        return {"step": self.step, "history": self.history.as_dict(),
                "fixed": self.decode(self.fixed_z),
                "frames": (list(self.frames.steps), list(self.frames.images))}

    def weights(self) -> dict:
        """All weights as float32 numpy arrays, ``g/<layer>/kernel`` ... ``d/<layer>/bias``."""
        out = {}
        for prefix, model, spec in (("g", self.G, self.generator_spec),
                                    ("d", self.D, self.discriminator_spec)):
            out.update({f"{prefix}/{k}": v for k, v in nn.keras_weights(model, spec).items()})
        if self.best:  # g/: the moving average (sampled); g_raw/: the trained G (to resume)
            for name, kind, _var, avg in self._g_layer_vars():
                out[f"g_raw/{name}/{kind}"] = out[f"g/{name}/{kind}"]
                out[f"g/{name}/{kind}"] = np.asarray(avg.numpy(), np.float32)
        return out

    def _set_weights(self, weights: dict) -> None:
        for prefix, model in (("g", self.G), ("d", self.D)):
            for layer in model.layers:
                for var, kind in zip(layer.weights, ("kernel", "bias")):
                    key = f"{prefix}/{layer.name}/{kind}"
                    if key not in weights or tuple(weights[key].shape) != tuple(var.shape):
                        raise ValueError(f"weights for {key} are missing or have the wrong shape")
                    var.assign(weights[key])
        if self.best:  # the moving average from g/, the trained G from g_raw/ when saved
            for name, kind, var, avg in self._g_layer_vars():
                avg.assign(weights[f"g/{name}/{kind}"])
                raw = weights.get(f"g_raw/{name}/{kind}")
                if raw is not None and tuple(raw.shape) == tuple(var.shape):
                    var.assign(raw)

    # -- saving

    def manifest(self, **extra) -> dict:
        """The checkpoint manifest of the current state (plus ``extra`` keys)."""
        return {"family": gan.FAMILY, "format": gan.FORMAT, "version": gan.FORMAT_VERSION,
                "preset": self.preset, "seed": self.seed, "step": self.step,
                "settings": dict(self.settings), "n_train": self.n_images,
                "frames_every": self.frames.every, **extra}

    def save(self, path, **extra) -> Path:
        """Write ``path`` (.npz, no pickle) and ``path`` with ``.json`` (manifest), atomically.

        ``extra``: more manifest keys (data_source, data_kind, train_seconds, date, ...).
        """
        path = Path(path)
        arrays = gan.checkpoint_arrays(self.weights(), self.history.as_dict(), self.frames,
                                       self.fixed_z)
        checkpoints.write(path, arrays, self.manifest(**extra))
        return path

    @classmethod
    def load(cls, path, images=None, jit: bool | None = None, jit_later: bool = False,
             preset: str | None = None, **settings) -> GANTrainer:
        """A trainer that continues from a checkpoint (Adam's moments restart at zero).

        ``settings`` override the saved ones, except latent_dim, output and pack. ``preset``:
        the preset the caller expects; every preset has its own networks, so a checkpoint of
        another one is refused (ValueError).
        """
        manifest, arrays = gan.read_checkpoint(path)
        saved = dict(manifest.get("settings", {}))
        held = manifest.get("preset")
        if preset is not None and preset != held:
            raise ValueError(f"{path} holds the {held} preset, whose networks differ from "
                             f"{preset}'s; it cannot continue as {preset}")
        try:
            trainer = cls(manifest["preset"], manifest["seed"], images=images, jit=jit,
                          jit_later=jit_later,
                          **{**saved, **settings, **{k: saved[k] for k in ARCHITECTURE}})
            trainer._set_weights({k[2:]: v for k, v in arrays.items() if k.startswith("w/")})
        except (KeyError, TypeError) as e:
            raise ValueError(f"{path}: incomplete GAN checkpoint ({e})") from e
        trainer.step = int(manifest["step"])
        trainer.saved_seconds = float(manifest.get("train_seconds", 0.0))  # for --resume
        if trainer.best:  # the average goes on at full decay, not warming up again
            trainer._ema_t.assign(float(trainer.step))
        trainer.fixed_z = arrays["fixed_z"]
        hist = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("history/")}
        trainer.history = _History.from_dict(hist)
        trainer.frames = gan.Frames.from_arrays(arrays, manifest.get("frames_every", 25))
        # continue the batch/noise stream elsewhere than where the checkpoint's run started
        trainer._set_noise([trainer.seed * 1_000_003 + trainer.step, 0])
        return trainer

    def _set_noise(self, seed_pair: list) -> None:
        """Where the batch/noise stream goes on: the stateless seed pair of the next draw."""
        self._noise.assign(seed_pair)


# ----------------------------------------------------------------------------- CLI


def cli(argv: list[str]) -> None:
    """``python -m genlib.train gan ...``: see :mod:`genlib.gan_cli`."""
    from genlib.gan_cli import cli as run

    run(argv)


if __name__ == "__main__":  # pragma: no cover
    import sys

    cli(sys.argv[1:])
