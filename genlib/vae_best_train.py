"""Training the best VAE preset ("conv_best"): a learned prior, warm-up, shifts, early stopping.

``python -m genlib.train vae --preset conv_best --minutes 40 [--resume]``

On 4,000 training digits the held-out ELBO of a plain conv VAE is limited by overfitting and
by the KL to an N(0, I) prior. This trainer (a :class:`~genlib.vae_train.VAETrainer` with a
different loss and epoch hooks) adds, per the preset's config (:data:`genlib.vae.PRESETS`):

- ``prior: "mixture"``: a mixture of ``prior_components`` diagonal Gaussians trained inside
  the ELBO; the KL is estimated from the same draw of z, ``log q(z|x) - log p(z)``;
- ``warmup_epochs``: the KL weight rises linearly from 0 to 1 (the saved model's ELBO
  always has weight 1);
- ``shift``: every epoch, each training digit is moved by a random whole number of pixels
  in -shift..shift along each axis (zero fill);
- ``val_fraction`` / ``patience``: a validation split of the *training* digits (never the
  held-out split); the learning rate halves after ``patience // 4`` epochs without a better
  validation -ELBO, training stops after ``patience``; the weights kept are the best ones.

``--resume`` restarts from the saved (best) weights and their manifest's history; Adam's
moments start afresh.
"""

from __future__ import annotations

import time

import numpy as np

from genlib.vae import VAE
from genlib.vae_prior import PRIOR_KEYS
from genlib.vae_train import CHUNK, VAETrainer, compiled_steps, keras_weights

__all__ = ["BestVAETrainer", "shift_digits", "run"]

SAVE_EVERY = 120.0  # seconds between checkpoints of the best weights while training


def shift_digits(images, max_shift: int, rng) -> np.ndarray:
    """Move each image (n, 28, 28) by random whole pixels in -max_shift..max_shift per axis,
    filling with zeros (black)."""
    x = np.asarray(images, np.float32)
    s = int(max_shift)
    if s <= 0:
        return x.copy()
    rng = np.random.default_rng(rng)
    padded = np.pad(x, ((0, 0), (s, s), (s, s)))
    dy, dx = rng.integers(-s, s + 1, size=(2, len(x)))
    rows = (np.arange(28)[None, :] + s - dy[:, None])[:, :, None]
    cols = (np.arange(28)[None, :] + s - dx[:, None])[:, None, :]
    return padded[np.arange(len(x))[:, None, None], rows, cols]


class BestVAETrainer(VAETrainer):
    """A :class:`~genlib.vae_train.VAETrainer` for configs with a mixture prior, KL warm-up,
    shift augmentation and early stopping on a validation split of the training digits.

    Extra attributes: ``best`` (the best validation -ELBO and its epoch), ``converged`` (the
    patience ran out), ``x_val`` (the validation digits).
    """

    def __init__(self, data, preset: str = "conv_best", epochs: int | None = None,
                 seed: int = 0):
        super().__init__(data, preset, epochs=epochs, seed=seed)
        c = self.config
        n_val = int(round(len(self.x_train) * float(c.get("val_fraction", 0.0))))
        order = np.random.default_rng(self.seed + 7).permutation(len(self.x_train))
        self.x_fit = self.x_train[np.sort(order[n_val:])]
        self.x_val = self.x_train[np.sort(order[:n_val])] if n_val else None
        self.steps_per_epoch = len(self.x_fit) // c["batch_size"]
        self.best = {"val_loss": np.inf, "epoch": 0}
        self._best_weights = None
        self.converged = False
        self._bad = 0
        self._new_epoch_data()

    # -- the compiled steps: a learned prior and a KL weight that can change between epochs

    def _compile(self) -> None:
        from genlib import nn
        from genlib.vae_train import seeded_networks

        nn.keras()
        import tensorflow as tf

        self._tf = tf
        c = self.config
        self.encoder, self.decoder, self._opt = seeded_networks(c, self.seed)
        encoder, decoder, optimizer = self.encoder, self.decoder, self._opt
        d, k = c["latent_dim"], int(c.get("prior_components", 1))
        mixture = c.get("prior") == "mixture"
        init = np.random.default_rng(self.seed + 3)
        self._prior_vars = [
            tf.Variable(init.standard_normal((k, d)).astype(np.float32), name="prior_means"),
            tf.Variable(np.zeros((k, d), np.float32), name="prior_log_vars"),
            tf.Variable(np.zeros(k, np.float32), name="prior_logits"),
        ] if mixture else []
        variables = (encoder.trainable_variables + decoder.trainable_variables
                     + self._prior_vars)
        self._beta_t = beta_t = tf.Variable(self._beta_now(1), trainable=False, dtype=tf.float32)
        log2pi = float(np.log(2 * np.pi))

        def terms(x, eps, training):
            mean, logvar = encoder(x, training=training)
            z = mean + tf.exp(0.5 * logvar) * eps
            logits = decoder(z, training=training)
            bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.reshape(x, (-1, 784)),
                                                          logits=logits)
            recon = tf.reduce_mean(tf.reduce_sum(bce, axis=1))
            if not mixture:
                kl = 0.5 * tf.reduce_sum(tf.square(mean) + tf.exp(logvar) - 1.0 - logvar, 1)
                return recon, tf.reduce_mean(kl)
            means, log_vars, logits_k = self._prior_vars
            log_q = -0.5 * tf.reduce_sum(log2pi + logvar + tf.square(eps), axis=1)
            diff = z[:, None, :] - means[None]
            comp = -0.5 * tf.reduce_sum(log2pi + log_vars[None] + tf.square(diff)
                                        * tf.exp(-log_vars[None]), axis=2)
            log_p = tf.reduce_logsumexp(comp + tf.nn.log_softmax(logits_k)[None], axis=1)
            return recon, tf.reduce_mean(log_q - log_p)

        self._train_steps, self._eval_step = compiled_steps(
            terms, variables, optimizer, beta_t, c["batch_size"], d)

    def _beta_now(self, epoch: int) -> float:
        warm = int(self.config.get("warmup_epochs", 0))
        return 1.0 if warm <= 0 else min(1.0, epoch / warm)

    # -- epoch hooks

    def _new_epoch_data(self) -> None:
        """The next epoch's digits (shifted afresh) and its KL weight."""
        rng = np.random.default_rng([self.seed, self.epoch])
        self.x_train = shift_digits(self.x_fit, int(self.config.get("shift", 0)), rng)
        self._beta_t.assign(self._beta_now(self.epoch + 1))

    def _val_loss(self) -> float:
        tf, d = self._tf, self.config["latent_dim"]
        erng = np.random.default_rng(self.seed + 2)  # the same noise every epoch
        total = 0.0
        for i in range(0, len(self.x_val), 500):
            xb = np.ascontiguousarray(self.x_val[i:i + 500])
            eps = erng.standard_normal((len(xb), d)).astype(np.float32)
            total += sum(float(v) for v in self._eval_step(tf.constant(xb),
                                                             tf.constant(eps))) * len(xb)
        return total / len(self.x_val)

    def _end_epoch(self) -> None:
        if self._pos == 0:
            return
        super()._end_epoch()
        row = self.history[-1]
        if self.x_val is not None:
            row["fit_val_loss"] = v = self._val_loss()
            # only epochs at full KL weight count: during warm-up the ELBO is not the target
            if self._beta_now(self.epoch) >= 1.0:
                if v < self.best["val_loss"]:
                    self.best = {"val_loss": v, "epoch": self.epoch}
                    self._best_weights = self._current_weights()
                    self._bad = 0
                else:
                    self._bad += 1
                    patience = int(self.config.get("patience", 0))
                    if patience and self._bad % max(1, patience // 4) == 0:
                        lr = self._opt.learning_rate
                        lr.assign(float(lr.numpy()) * 0.5)
                    if patience and self._bad >= patience:
                        self.converged = True
        row["learning_rate"] = float(self._opt.learning_rate.numpy())
        self._new_epoch_data()

    def train(self, steps: int, callback=None) -> int:
        """As :meth:`VAETrainer.train`, stopping once the validation patience has run out."""
        done = 0
        while done < int(steps) and not self.converged and not self.stopped_early:
            n = min(CHUNK, self.steps_per_epoch - self._pos, int(steps) - done)
            done += super().train(n, callback)  # never past an epoch's end: it may converge
        return done

    # -- weights

    def _current_weights(self) -> dict:
        w = keras_weights(self.encoder, self.decoder, self.config)
        for key, var in zip(PRIOR_KEYS, self._prior_vars):
            w[key] = np.asarray(var.numpy(), np.float32)
        return w

    def load_weights(self, vae: VAE) -> None:
        """Start from a saved model of this config (``--resume``): its weights, history and
        best validation figure."""
        from genlib import nn
        from genlib.vae import architecture

        if vae.config.get("kind") != self.config["kind"] or \
                vae.latent_dim != self.config["latent_dim"]:
            raise ValueError(f"{vae.path}: a {vae.describe()}, not this preset's model; "
                             "cannot resume")
        spec = architecture(self.config["kind"], self.config["latent_dim"],
                            self.config["hidden"])
        nn.set_keras_weights(self.encoder, spec["encoder"] + spec["heads"], vae.weights)
        nn.set_keras_weights(self.decoder, spec["decoder"], vae.weights)
        for key, var in zip(PRIOR_KEYS, self._prior_vars):
            var.assign(vae.weights[key])
        m = vae.manifest
        self.history = list(m.get("history", []))
        self.epoch = len(self.history)
        self.step = int(m.get("steps", 0))
        self.seconds = float(m.get("train_seconds", 0.0))
        self.best = {"val_loss": float(m.get("best_val_loss") or np.inf),
                     "epoch": int(m.get("best_epoch", self.epoch))}
        self._best_weights = dict(vae.weights)
        self._new_epoch_data()

    def model(self, eval_samples: int = 5) -> VAE:
        """The numpy VAE with the best validation weights so far (the latest before any),
        its manifest recording the best epoch and validation -ELBO."""
        import datetime as _dt

        from genlib.vae import FAMILY

        self._end_epoch()
        manifest = {
            "family": FAMILY, "preset": self.preset, "data_source": self.source,
            "data_kind": self.data_kind, "epochs": len(self.history), "steps": self.step,
            "seed": self.seed, "beta": self.config["beta"], "train_digits": len(self.x_fit),
            "val_digits": 0 if self.x_val is None else len(self.x_val),
            "train_seconds": round(self.seconds, 2),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "best_epoch": self.best["epoch"], "best_val_loss": (round(self.best["val_loss"], 3)
                              if np.isfinite(self.best["val_loss"]) else None),
            "converged": bool(self.converged), "history": list(self.history),
        }
        weights = self._current_weights() if self._best_weights is None else self._best_weights
        vae = VAE(self.config, weights, manifest)
        if self.x_test is not None:
            elbo = vae.negative_elbo(self.x_test, n_samples=eval_samples, rng=self.seed)
            vae.manifest.update(test_negative_elbo=round(elbo["total"], 3),
                                test_recon=round(elbo["recon"], 3),
                                test_kl=round(elbo["kl"], 3), test_digits=len(self.x_test))
        return vae

def run(mnist, preset: str, output, minutes: float | None, epochs: int | None, seed: int,
        resume: bool, max_steps: int | None = None, quiet: bool = False) -> VAE:
    """Train ``preset`` with a :class:`BestVAETrainer` for ``minutes`` (or its epochs),
    saving the best weights to ``output`` every couple of minutes and at the end."""
    from pathlib import Path

    trainer = BestVAETrainer(mnist, preset, epochs=epochs, seed=seed)
    output = Path(output)
    if resume:
        trainer.load_weights(VAE.load(output))
        if not quiet:
            print(f"resumed {output} after epoch {trainer.epoch} (best validation -ELBO "
                  f"{trainer.best['val_loss']:.2f} at epoch {trainer.best['epoch']})", flush=True)
    deadline = time.perf_counter() + minutes * 60 if minutes else float("inf")
    goal = trainer.steps_per_epoch * trainer.epochs if minutes is None else None
    if max_steps is not None:
        goal = int(max_steps) if goal is None else min(goal, int(max_steps))
    last_save, done = time.perf_counter(), 0
    while not trainer.converged and time.perf_counter() < deadline \
            and (goal is None or done < goal):
        epoch = trainer.epoch
        done += trainer.train(trainer.steps_per_epoch if goal is None
                              else min(trainer.steps_per_epoch, goal - done))
        row = trainer.history[-1] if trainer.history and trainer.epoch != epoch else None
        if row and not quiet and "val_loss" in row:
            print(f"epoch {row['epoch']:4d}  train -ELBO {row['recon'] + row['kl']:7.2f}  "
                  f"validation {row.get('fit_val_loss', np.nan):7.2f}  held-out "
                  f"{row['val_loss']:7.2f}  (KL {row['val_kl']:5.2f}, weight "
                  f"{trainer._beta_now(row['epoch']):.2f}, lr {row['learning_rate']:.2g})  "
                  f"{trainer.seconds:6.0f} s", flush=True)
        if time.perf_counter() - last_save > SAVE_EVERY and trainer._best_weights is not None:
            trainer.model().save(output)
            last_save = time.perf_counter()
    model = trainer.model()
    model.save(output)
    if not quiet and trainer.converged:
        print(f"stopped: no better validation -ELBO for {trainer.config.get('patience')} epochs")
    return model
