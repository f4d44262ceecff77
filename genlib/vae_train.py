"""Training a VAE with Keras: the builders, the trainer, the command line.

``python -m genlib.train vae --preset tutorial [--epochs N] [--output PATH] ...``

The only VAE module that imports Keras/TensorFlow (when a trainer is built, not at import).
The Keras models are built from the same layer specs as the numpy :class:`~genlib.vae.VAE`
(:func:`genlib.vae.architecture`, :func:`genlib.nn.keras_layers`), so trained weights map
onto it by name and its forward passes match Keras to float32 round-off.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import time
from pathlib import Path

import numpy as np

from genlib import nn
from genlib.vae import (
    FAMILY,
    LATENT_RANGE,
    PRESETS,
    TUTORIAL_BETA,
    VAE,
    _as_images,
    _check_config,
    architecture,
    shipped_path,
)

__all__ = ["VAETrainer", "train", "build_keras", "keras_weights", "resolve_beta", "cli"]

CHUNK = 10  # optimisation steps per compiled call: a Python round trip per step costs more


# ----------------------------------------------------------------------------- Keras models


def _apply(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def seeded_networks(config: dict, seed: int) -> tuple:
    """(encoder, decoder, optimizer) for ``config``, Keras' seed set first: the same initial
    weights for the same seed, in both trainers."""
    keras = nn.keras()
    keras.utils.set_random_seed(seed)
    encoder, decoder = build_keras(config)
    opt_cls = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}
    return encoder, decoder, opt_cls[config["optimizer"]](learning_rate=config["learning_rate"])


def build_keras(config: dict):
    """Keras models for a config: (encoder: x -> [mean, logvar], decoder: z -> logits (n, 784)).

    The decoder outputs logits so the loss is a stable sigmoid cross-entropy; the image is
    ``sigmoid(logits)``, as in the tutorial's Dense(784, sigmoid).
    """
    keras = nn.keras()
    config = _check_config(config)
    spec = architecture(config["kind"], config["latent_dim"], config["hidden"])
    # The encoder has two heads on one trunk, so it is built functionally (its layers stay at
    # the top level, where keras_weights finds them by name); the decoder is one stack.
    x_in = keras.Input((28, 28), name="image")
    h = _apply(nn.keras_layers(spec["encoder"]), x_in)
    mean = _apply(nn.keras_layers(spec["heads"][:1]), h)
    logvar = _apply(nn.keras_layers(spec["heads"][1:]), h)
    encoder = keras.Model(x_in, [mean, logvar], name="encoder")
    decoder = nn.build_keras(spec["decoder"] + [{"type": "flatten"}], (config["latent_dim"],),
                             name="decoder")
    return encoder, decoder


def keras_weights(encoder, decoder, config: dict) -> dict:
    """The Keras models' weights as the numpy dict a :class:`~genlib.vae.VAE` uses."""
    spec = architecture(config["kind"], config["latent_dim"], config["hidden"])
    return {**nn.keras_weights(encoder, spec["encoder"] + spec["heads"]),
            **nn.keras_weights(decoder, spec["decoder"])}


# ----------------------------------------------------------------------------- training


def _digits(data):
    """(train images, test images or None, source, kind) from an MNIST, a Digits or an array."""
    kind = getattr(data, "kind", None)
    if hasattr(data, "train") and hasattr(data, "test"):
        return data.train.images, data.test.images, getattr(data, "source", ""), kind
    if hasattr(data, "images"):
        return data.images, None, "", kind
    return _as_images(data), None, "", kind


def resolve_beta(beta) -> float:
    """A KL weight from a number or the word "tutorial" (:data:`~genlib.vae.TUTORIAL_BETA`)."""
    if isinstance(beta, str) and beta.strip().lower() in ("tutorial", "small", "tiny"):
        return TUTORIAL_BETA
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta must be a number or 'tutorial', got {beta!r}") from None
    if not 0 <= beta <= 100 or not np.isfinite(beta):
        raise ValueError(f"beta must lie in [0, 100], got {beta}")
    return beta


def _config(preset: str, epochs, latent_dim, beta) -> tuple[dict, int]:
    if preset not in PRESETS:
        raise ValueError(f"unknown VAE preset {preset!r}; choose one of {', '.join(PRESETS)}")
    config = dict(PRESETS[preset])
    if latent_dim is not None:
        config["latent_dim"] = int(latent_dim)
    if beta is not None:
        config["beta"] = resolve_beta(beta)
    epochs = int(config.pop("epochs") if epochs is None else epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    return _check_config(config), epochs


def compiled_steps(terms, variables, optimizer, beta_t, batch_size: int, latent_dim: int):
    """(train_steps, eval_step) as ``tf.function``s over ``terms(x, eps, training) -> (recon,
    kl)``: ``train_steps(xs, eps)`` runs one Adam step per leading index of ``xs`` (minimising
    recon + beta_t * kl) and returns the summed (recon, kl); ``eval_step(x, eps)`` is
    ``terms`` without training.

    Several steps per call: the Python round trip per step would cost more than the step.
    autograph=False with an explicit while_loop: AutoGraph re-reads this file's source at
    trace time and gives up if the file changed since import (e.g. an upgrade under a running
    server).
    """
    import tensorflow as tf

    image_sig = tf.TensorSpec((None, batch_size, 28, 28), tf.float32)
    eps_sig = tf.TensorSpec((None, batch_size, latent_dim), tf.float32)

    @tf.function(input_signature=[image_sig, eps_sig], autograph=False)
    def train_steps(xs, eps):
        def body(i, sums):
            with tf.GradientTape() as tape:
                recon, kl = terms(xs[i], eps[i], True)
                loss = recon + beta_t * kl
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return i + 1, sums + tf.stack([recon, kl])

        _, sums = tf.while_loop(lambda i, _: i < tf.shape(xs)[0], body,
                                (tf.constant(0), tf.zeros(2)))
        return sums

    @tf.function(reduce_retracing=True, autograph=False)
    def eval_step(x, eps):
        return terms(x, eps, False)

    return train_steps, eval_step


class VAETrainer:
    """Trains a VAE with Keras under ``tf.function``, epoch by epoch, in steps.

    The shape every neural family trains through (:class:`genlib.protocol.Trainer`):
    :meth:`train` (steps), :meth:`train_for` (seconds), :meth:`snapshot`; :meth:`model` gives
    the numpy :class:`~genlib.vae.VAE` trained so far.

    Parameters
    ----------
    data : an :class:`~genlib.data.MNIST` (trains on ``.train``, reports the held-out
        ELBO on ``.test`` after every epoch), a :class:`~genlib.data.Digits`, or images
        (n, 28, 28)
    preset : "tutorial" or "conv" (see :data:`~genlib.vae.PRESETS`)
    epochs, latent_dim, beta : override the preset (beta may be "tutorial"); ``epochs`` is
        the planned length (reported in progress; :meth:`train` may go on past it)

    Attributes
    ----------
    step : optimisation steps so far; epoch : the epoch in progress (or last finished)
    steps_per_epoch : full batches per pass over the training digits
    history : one row per finished epoch: epoch, loss, recon, kl (and val_* on held-out digits)
    """

    def __init__(self, data, preset: str = "tutorial", epochs: int | None = None,
                 latent_dim: int | None = None, beta=None, seed: int = 0):
        self.preset, self.seed = preset, int(seed)
        self.config, self.epochs = _config(preset, epochs, latent_dim, beta)
        x_train, x_test, self.source, self.data_kind = _digits(data)
        self.x_train = np.ascontiguousarray(_as_images(x_train))
        self.x_test = None if x_test is None or not len(x_test) else x_test
        bs = self.config["batch_size"]
        if len(self.x_train) < bs:
            raise ValueError(f"need at least {bs} training digits, got {len(self.x_train)}")
        self.steps_per_epoch = len(self.x_train) // bs
        self.step, self.epoch, self.history = 0, 0, []
        self.seconds = 0.0
        self.stopped_early = False
        self._pos, self._sums = 0, np.zeros(2)  # steps into the epoch, their (recon, kl) sums
        self._rng = np.random.default_rng(self.seed)
        self._compile()

    # -- the compiled steps

    def _compile(self) -> None:
        nn.keras()
        import tensorflow as tf

        self._tf = tf
        config = self.config
        self.encoder, self.decoder, optimizer = seeded_networks(config, self.seed)
        encoder, decoder = self.encoder, self.decoder
        variables = encoder.trainable_variables + decoder.trainable_variables
        beta_t = tf.constant(config["beta"], tf.float32)

        def terms(x, eps, training):
            mean, logvar = encoder(x, training=training)
            z = mean + tf.exp(0.5 * logvar) * eps
            logits = decoder(z, training=training)
            bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.reshape(x, (-1, 784)),
                                                          logits=logits)
            recon = tf.reduce_mean(tf.reduce_sum(bce, axis=1))
            kl = tf.reduce_mean(0.5 * tf.reduce_sum(
                tf.square(mean) + tf.exp(logvar) - 1.0 - logvar, axis=1))
            return recon, kl

        self._train_steps, self._eval_step = compiled_steps(
            terms, variables, optimizer, beta_t, config["batch_size"], config["latent_dim"])

    # -- training

    def train(self, steps: int, callback=None) -> int:
        """Run up to ``steps`` optimisation steps (in compiled chunks of up to 10).

        ``callback`` is called after every chunk with a dict: epoch, epochs, step, steps (per
        epoch), recon, kl, beta, loss (running means over the epoch; loss = recon + beta * kl).
        If it returns False, training stops after that chunk (``stopped_early`` is set).
        Returns the number of steps run.
        """
        tf, beta, spe = self._tf, self.config["beta"], self.steps_per_epoch
        bs, d = self.config["batch_size"], self.config["latent_dim"]
        t0, done = time.perf_counter(), 0
        try:
            while done < int(steps):
                if self._pos == 0:  # a new epoch: a fresh order and fresh noise, seeded
                    self.epoch += 1
                    self._order = self._rng.permutation(len(self.x_train))[:spe * bs].reshape(
                        spe, bs)
                    self._eps = self._rng.standard_normal((spe, bs, d)).astype(np.float32)
                    self._sums = np.zeros(2)
                pos = self._pos
                c = min(CHUNK, spe - pos, int(steps) - done)
                xs = self.x_train[self._order[pos:pos + c]]
                self._sums += self._train_steps(tf.constant(xs),
                                                tf.constant(self._eps[pos:pos + c])).numpy()
                self._pos += c
                self.step += c
                done += c
                r, k = self._sums / self._pos
                stop = callback is not None and callback({
                    "epoch": self.epoch, "epochs": self.epochs, "step": self._pos, "steps": spe,
                    "recon": r, "kl": k, "beta": beta, "loss": r + beta * k}) is False
                if self._pos == spe:
                    self._end_epoch()
                if stop:
                    self.stopped_early = True
                    break
        finally:
            self.seconds += time.perf_counter() - t0
        return done

    def train_for(self, seconds: float, max_steps: int | None = None) -> int:
        """Train for about ``seconds`` (whole chunks), at most ``max_steps`` steps."""
        end, done = time.perf_counter() + float(seconds), 0
        while time.perf_counter() < end and (max_steps is None or done < max_steps):
            n = CHUNK if max_steps is None else min(CHUNK, max_steps - done)
            done += self.train(n)
        return done

    def _end_epoch(self) -> None:
        """Record the epoch in progress (a partial one too) in :attr:`history`."""
        if self._pos == 0:
            return
        beta = self.config["beta"]
        r, k = self._sums / self._pos
        row = {"epoch": self.epoch, "loss": r + beta * k, "recon": r, "kl": k}
        if self.x_test is not None:
            tf, d = self._tf, self.config["latent_dim"]
            erng = np.random.default_rng(self.seed + 1)  # the same noise every epoch
            vals = np.zeros(2)
            for i in range(0, len(self.x_test), 500):
                xb = np.ascontiguousarray(self.x_test[i:i + 500])
                eps = erng.standard_normal((len(xb), d)).astype(np.float32)
                vals += np.array([float(v) for v in self._eval_step(
                    tf.constant(xb), tf.constant(eps))]) * len(xb)
            vr, vk = vals / len(self.x_test)
            row.update(val_recon=vr, val_kl=vk, val_loss=vr + vk)
        self.history.append(row)
        self._pos, self._sums = 0, np.zeros(2)

    # -- results

    def snapshot(self) -> dict:
        """Numpy-only progress: step, epoch, steps_per_epoch, history (a copy), and the running
        recon / kl / loss of the epoch in progress (NaN before its first step)."""
        r, k = self._sums / self._pos if self._pos else (np.nan, np.nan)
        return {"step": self.step, "epoch": self.epoch, "steps_per_epoch": self.steps_per_epoch,
                "history": [dict(row) for row in self.history], "recon": r, "kl": k,
                "loss": r + self.config["beta"] * k}

    def model(self, eval_samples: int = 5) -> VAE:
        """The numpy :class:`~genlib.vae.VAE` trained so far, with its manifest.

        Closes a partial epoch first (its row goes into the history), and measures the
        held-out negative ELBO with ``eval_samples`` draws per digit when there are held-out
        digits.
        """
        self._end_epoch()
        manifest = {
            "family": FAMILY, "preset": self.preset, "data_source": self.source,
            "data_kind": self.data_kind, "epochs": len(self.history), "steps": self.step,
            "seed": self.seed, "beta": self.config["beta"], "train_digits": len(self.x_train),
            "train_seconds": round(self.seconds, 2),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "stopped_early": bool(self.stopped_early), "history": list(self.history),
        }
        vae = VAE(self.config, keras_weights(self.encoder, self.decoder, self.config), manifest)
        if self.x_test is not None:
            elbo = vae.negative_elbo(self.x_test, n_samples=eval_samples, rng=self.seed)
            vae.manifest.update(test_negative_elbo=round(elbo["total"], 3),
                                test_recon=round(elbo["recon"], 3),
                                test_kl=round(elbo["kl"], 3), test_digits=len(self.x_test))
        return vae


def train(data, preset: str = "tutorial", epochs: int | None = None,
          latent_dim: int | None = None, beta=None, seed: int = 0, callback=None,
          max_steps: int | None = None, eval_samples: int = 5) -> VAE:
    """Train a VAE for ``epochs`` (or ``max_steps``) with a :class:`VAETrainer`; return it
    as a numpy :class:`~genlib.vae.VAE`.

    Parameters as :class:`VAETrainer`, plus ``callback`` (see :meth:`VAETrainer.train`;
    returning False stops early, the model trained so far is returned) and ``max_steps``
    (stop after this many optimisation steps in total, for quick tests).
    """
    trainer = VAETrainer(data, preset, epochs=epochs, latent_dim=latent_dim, beta=beta,
                         seed=seed)
    budget = trainer.steps_per_epoch * trainer.epochs
    trainer.train(budget if max_steps is None else min(int(max_steps), budget), callback)
    return trainer.model(eval_samples)


# ----------------------------------------------------------------------------- CLI


def cli(argv: list[str]) -> None:
    """``python -m genlib.train vae --preset tutorial [--epochs N] [--output PATH] ...``"""
    ap = argparse.ArgumentParser(prog="python -m genlib.train vae",
                                 description="Train a VAE preset and save .npz weights + "
                                             ".json manifest (atomically).")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tutorial")
    ap.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    ap.add_argument("--latent-dim", type=int, default=None,
                    help=f"latent size {LATENT_RANGE[0]}..{LATENT_RANGE[1]} (default: preset's)")
    ap.add_argument("--beta", default=None,
                    help=f"KL weight, a number or 'tutorial' (= {TUTORIAL_BETA:g}); default 1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--source", default="sample",
                    help="MNIST source: sample, keras, auto or a file path (default: sample)")
    ap.add_argument("--max-steps", type=int, default=None, help="stop after N steps (tests)")
    ap.add_argument("--minutes", type=float, default=None,
                    help="wall-clock training time (then or at the preset's early stop)")
    ap.add_argument("--resume", action="store_true",
                    help="continue from the output file's weights and history")
    ap.add_argument("--output", default=None,
                    help="weights .npz path (default: the shipped genlib/weights/vae_<preset>.npz)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    from genlib.data import load_mnist

    mnist = load_mnist(args.source)
    output = Path(args.output) if args.output else shipped_path(args.preset)
    if args.minutes is not None and args.minutes <= 0:
        raise ValueError("--minutes must be positive")
    if args.minutes is not None or args.resume or "val_fraction" in PRESETS[args.preset]:
        # timed, resumable, early-stopped training (genlib.vae_best_train; the conv_best way)
        if args.latent_dim is not None or args.beta is not None:
            raise ValueError("--latent-dim and --beta cannot be combined with --minutes, "
                             "--resume or the conv_best preset")
        from genlib.vae_best_train import run

        model = run(mnist, args.preset, output, args.minutes, args.epochs, args.seed,
                    args.resume, args.max_steps, args.quiet)
        elbo = model.manifest.get("test_negative_elbo")
        print(f"saved {output} (+ .json): {model.describe()}, {model.manifest['epochs']} "
              f"epochs in {model.manifest['train_seconds']:.1f} s, best at epoch "
              f"{model.manifest.get('best_epoch')}" + (f", held-out -ELBO {elbo:.2f} nats"
                                                       if elbo is not None else ""))
        return
    last = {"epoch": 0}

    def report(p):
        if not args.quiet and p["step"] == p["steps"] and p["epoch"] != last["epoch"]:
            last["epoch"] = p["epoch"]
            print(f"epoch {p['epoch']:3d}/{p['epochs']}  loss {p['loss']:8.3f} = "
                  f"recon {p['recon']:8.3f} + {p['beta']:g} x KL {p['kl']:7.3f}", flush=True)

    model = train(mnist, preset=args.preset, epochs=args.epochs, latent_dim=args.latent_dim,
                  beta=args.beta, seed=args.seed, callback=report, max_steps=args.max_steps)
    path = model.save(output)
    elbo = model.manifest.get("test_negative_elbo")
    print(f"saved {path} (+ .json): {model.describe()}, {model.manifest['epochs']} epochs in "
          f"{model.manifest['train_seconds']:.1f} s" + (f", held-out -ELBO {elbo:.2f} nats"
                                                         if elbo is not None else ""))
