"""Train the 2-D playground's GAN, VAE and flow-matching model with Keras, a chunk at a time.

:class:`PointTrainer` follows the trainer protocol :class:`genlib.live.LiveTraining` drives
(``step``, ``train(n)``, ``train_for(seconds, max_steps=None)``, ``snapshot()``, ``close()``);
a chunk of steps runs inside one ``tf.function`` call. The snapshot carries the weights as
numpy arrays, so the page draws with :mod:`genlib.playground_nets` and no TensorFlow.

TensorFlow is imported when a trainer is built, not when this module is imported.
"""

from __future__ import annotations

import time

import numpy as np

from genlib import nn
from genlib.playground_nets import LATENT, specs

__all__ = ["PointTrainer", "FAMILIES", "LEARNING_RATES", "DEFAULT_LR"]

FAMILIES = ("gan", "vae", "flow")
CHUNK = 50  # steps per compiled call (keeps one call well under 0.1 s)
BATCH = 256
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
DEFAULT_LR = {"gan": 1e-3, "vae": 3e-3, "flow": 3e-3}
METRICS = {"gan": ("d_loss", "g_loss", "d_real", "d_fake"), "vae": ("loss", "recon", "kl"),
           "flow": ("loss",)}
HISTORY_ROWS = 1000


class PointTrainer:
    """One neural family on 2-D points (n, 2), trained from random weights.

    Parameters
    ----------
    family : "gan", "vae" or "flow"
    points : float array (n, 2), the training points
    seed : fixes the initial weights and the stream of batches and noise
    lr : Adam's learning rate (changeable while training: :meth:`set`)
    """

    def __init__(self, family: str, points, seed: int = 0, lr: float | None = None,
                 batch: int = BATCH):
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
        points = np.asarray(points, np.float32)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2 or \
                not np.all(np.isfinite(points)):
            raise ValueError(f"points must be finite with shape (n, 2), n >= 2, got "
                             f"{points.shape}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
        self.family, self.seed, self.batch = family, int(seed), int(batch)
        self.lr = self._check_lr(DEFAULT_LR[family] if lr is None else lr)
        self.step = 0
        self._rows: list = []  # (step, metrics...) per chunk, thinned when long
        self._build(points)

    @staticmethod
    def _check_lr(lr) -> float:
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not 1e-6 <= lr <= 0.1:
            raise ValueError(f"learning rate must be between 1e-6 and 0.1, got {lr!r}")
        return float(lr)

    # -- construction

    def _build(self, points: np.ndarray) -> None:
        keras = nn.keras()
        import tensorflow as tf

        self._tf = tf
        self.nets = {name: nn.build_keras(spec, (width,), name, seed=self.seed + i)
                     for i, (name, (spec, width)) in enumerate(specs(self.family).items())}
        self._data = tf.constant(points)
        self._rng = tf.random.Generator.from_seed(self.seed)
        self.log_sigma = tf.Variable([0.0], dtype=tf.float32, name="log_sigma")
        self.opts = {name: keras.optimizers.Adam(self.lr, beta_1=0.5 if self.family == "gan"
                                                 else 0.9) for name in self._groups()}
        for name, opt in self.opts.items():
            opt.build(self._vars(name))
        self._chunk = tf.function(getattr(self, f"_{self.family}_chunk"))

    def _groups(self) -> tuple:
        return ("G", "D") if self.family == "gan" else ("all",)

    def _vars(self, group: str) -> list:
        if group == "all":
            extra = [self.log_sigma] if self.family == "vae" else []
            return [v for net in self.nets.values() for v in net.trainable_variables] + extra
        return list(self.nets[group].trainable_variables)

    def _batch(self):
        tf = self._tf
        idx = self._rng.uniform([self.batch], 0, tf.shape(self._data)[0], dtype=tf.int32)
        return tf.gather(self._data, idx)

    # -- one chunk of steps per family (traced once; n is a tensor)

    def _gan_chunk(self, n):
        tf = self._tf
        G, D = self.nets["G"], self.nets["D"]
        out = tf.TensorArray(tf.float32, size=n)
        for i in tf.range(n):
            x = self._batch()
            z = self._rng.normal([self.batch, LATENT])
            with tf.GradientTape() as tape:
                real, fake = D(x, training=True), D(G(z, training=True), training=True)
                d_loss = tf.reduce_mean(tf.nn.softplus(-real)) + tf.reduce_mean(
                    tf.nn.softplus(fake))
            d_vars = self._vars("D")
            self.opts["D"].apply(tape.gradient(d_loss, d_vars), d_vars)
            z = self._rng.normal([self.batch, LATENT])
            with tf.GradientTape() as tape:
                fake = D(G(z, training=True), training=True)
                g_loss = tf.reduce_mean(tf.nn.softplus(-fake))  # non-saturating
            g_vars = self._vars("G")
            self.opts["G"].apply(tape.gradient(g_loss, g_vars), g_vars)
            out = out.write(i, tf.stack([d_loss, g_loss, tf.reduce_mean(tf.sigmoid(real)),
                                         tf.reduce_mean(tf.sigmoid(fake))]))
        return out.stack()

    def _vae_chunk(self, n):
        tf = self._tf
        E, Dec = self.nets["E"], self.nets["Dec"]
        out = tf.TensorArray(tf.float32, size=n)
        variables = self._vars("all")
        for i in tf.range(n):
            x = self._batch()
            with tf.GradientTape() as tape:
                h = E(x, training=True)
                mu, logvar = h[:, :LATENT], tf.clip_by_value(h[:, LATENT:], -12.0, 6.0)
                z = mu + tf.exp(0.5 * logvar) * self._rng.normal(tf.shape(mu))
                x_hat = Dec(z, training=True)
                ls = self.log_sigma[0]
                # Gaussian decoder with a learned noise sigma: -log p(x | z) per point
                recon = tf.reduce_mean(tf.reduce_sum(
                    0.5 * tf.square(x - x_hat) * tf.exp(-2.0 * ls) + ls, axis=1))
                kl = tf.reduce_mean(0.5 * tf.reduce_sum(
                    tf.square(mu) + tf.exp(logvar) - 1.0 - logvar, axis=1))
                loss = recon + kl
            self.opts["all"].apply(tape.gradient(loss, variables), variables)
            out = out.write(i, tf.stack([loss, recon, kl]))
        return out.stack()

    def _flow_chunk(self, n):
        tf = self._tf
        V = self.nets["V"]
        out = tf.TensorArray(tf.float32, size=n)
        variables = self._vars("all")
        for i in tf.range(n):
            x1 = self._batch()
            x0 = self._rng.normal(tf.shape(x1))
            t = self._rng.uniform([self.batch, 1])
            xt = (1.0 - t) * x0 + t * x1
            with tf.GradientTape() as tape:
                v = V(tf.concat([xt, t], axis=1), training=True)
                loss = tf.reduce_mean(tf.reduce_sum(tf.square(v - (x1 - x0)), axis=1))
            self.opts["all"].apply(tape.gradient(loss, variables), variables)
            out = out.write(i, tf.reshape(loss, [1]))
        return out.stack()

    # -- the trainer protocol

    def set(self, lr: float | None = None) -> None:
        """Change the learning rate while training (no retracing: it is a variable)."""
        if lr is not None:
            self.lr = self._check_lr(lr)
            for opt in self.opts.values():
                opt.learning_rate.assign(self.lr)

    def _run(self, k: int) -> np.ndarray:
        values = self._chunk(self._tf.constant(k, self._tf.int32)).numpy()
        self.step += k
        if not np.all(np.isfinite(values)):
            raise ValueError(f"training diverged by step {self.step} (a loss became NaN or "
                             "infinite); lower the learning rate and reset")
        self._rows.append([self.step, *values.mean(axis=0)])
        if len(self._rows) > HISTORY_ROWS:
            self._rows = self._rows[::2]
        return values

    def train(self, steps: int) -> None:
        """Run ``steps`` steps."""
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
            raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
        left = int(steps)
        while left > 0:
            k = min(left, CHUNK)
            self._run(k)
            left -= k

    def train_for(self, seconds: float, max_steps: int | None = None) -> None:
        """Train for about ``seconds`` of wall time (at least one chunk)."""
        t0, done = time.perf_counter(), 0
        while done == 0 or time.perf_counter() - t0 < seconds:
            k = CHUNK if max_steps is None else min(CHUNK, max_steps - done)
            if k <= 0:
                break
            self._run(k)
            done += k

    def warm_up(self) -> PointTrainer:
        """Trace the chunk now (a run of zero steps), so the first Play trains at once."""
        self._chunk(self._tf.constant(0, self._tf.int32))
        return self

    def weights(self) -> dict:
        """Every network's weights as float32 numpy arrays, as playground_nets reads them."""
        out = {}
        for name, net in self.nets.items():
            out.update(nn.keras_weights(net, specs(self.family)[name][0]))
        out["log_sigma"] = self.log_sigma.numpy().astype(np.float32)
        return out

    def snapshot(self) -> dict:
        """Numpy-only state: family, step, lr, weights, history (step and metric arrays)."""
        rows = np.asarray(self._rows, np.float64).reshape(-1, 1 + len(METRICS[self.family]))
        history = {"step": rows[:, 0].astype(np.int64),
                   **{m: rows[:, i + 1] for i, m in enumerate(METRICS[self.family])}}
        return {"family": self.family, "step": self.step, "lr": self.lr,
                "weights": self.weights(), "history": history}

    def close(self) -> None:
        """Drop the networks, optimizers and data (a closed session's trainer)."""
        for name in ("nets", "opts", "_data", "_rng", "_chunk", "log_sigma"):
            self.__dict__.pop(name, None)
        self.closed = True
