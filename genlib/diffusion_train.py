"""Train the flow-matching model of :mod:`genlib.diffusion` (Keras 3 on TensorFlow).

``python -m genlib.train diffusion --preset latent|pixel [--minutes N | --steps N] [--resume]
[--output PATH]`` trains on the codes the shipped conv VAE gives the training digits (latent)
or on the digits themselves scaled to [-1, 1] (pixel: the U-Net of :mod:`genlib.denoisers_keras`),
prints its progress, and writes a :mod:`genlib.checkpoints` file (family "diffusion")
atomically: to the user's cache folder unless ``--output`` names a file (the shipped one only
when asked).
The file holds the EMA weights the numpy model samples with, plus the raw weights, Adam's
moments and step count, so ``--resume`` continues where it stopped.

One training step (under ``tf.function``, many steps per call): draw a batch of codes (the
encoder's mean plus its posterior noise: samples of the VAE's aggregate posterior, the prior
it should have had), standardise them, draw t ~ U(0, 1) and eps ~ N(0, I), form
``x_t = (1 - t) x_0 + t eps``, replace 10% of the classes by the null class (for guidance),
and regress the network's output on the target (``eps - x_0`` for velocity). The EMA
(decay 0.999) of the weights is what samples.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import time
from pathlib import Path

import numpy as np

from genlib import diffusion as df
from genlib import nn

__all__ = ["DiffusionTrainer", "latent_codes", "user_weights_path", "cli", "time_features_tf"]

STEPS_PER_CALL = 100  # steps per compiled call: the Python overhead is paid once per call
# ... but a U-Net step takes a good fraction of a second: fewer per call, so --minutes and a
# Cancel are obeyed within seconds
CALL_STEPS = {"pixel": 10}
HISTORY_EVERY = 250


def user_weights_path(preset: str = "latent") -> Path:
    """Where a user's training goes by default: the cache folder, never the shipped file."""
    from genlib.data import cache_dir

    df.shipped_path(preset)  # checks the name
    return cache_dir() / "weights" / f"{df.SHIPPED[preset]}.npz"


def latent_codes(vae, images) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of q(z | x) for each image: (n, d) each."""
    mean, logvar = vae.encode(images)
    return mean, np.exp(0.5 * logvar).astype(np.float32)


def code_stats(mean, std, posterior: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std of the codes the flow learns (standardised by these).

    With posterior samples, var = var(mean) + E[std^2] (the aggregate posterior's), so the
    dimensions the decoder ignores (mean ~0, std ~1) stay at unit scale instead of being
    blown up 30-fold by the tiny spread of their means.
    """
    mu = mean.mean(0)
    var = mean.var(0) + (np.mean(std ** 2, 0) if posterior else 0.0)
    return mu.astype(np.float32), np.sqrt(np.maximum(var, 1e-6)).astype(np.float32)


def time_features_tf(t):
    """:func:`genlib.diffusion.time_features` in TensorFlow: (n, 1) -> (n, 16)."""
    import tensorflow as tf

    freqs = tf.constant(np.pi * 2.0 ** np.arange(df.N_FREQUENCIES), tf.float32)
    angles = t * freqs[None, :]
    return tf.concat([tf.sin(angles), tf.cos(angles)], axis=1)


class DiffusionTrainer:
    """Trains one flow-matching model; follows :class:`genlib.protocol.Trainer`.

    Parameters
    ----------
    preset : a key of :data:`genlib.diffusion.PRESETS`
    mnist : the dataset (its training split is used); default the embedded sample
    seed : initial weights and the noise stream
    overrides : preset settings to change (``target``, ``hidden``, ``posterior_samples``...)
    """

    def __init__(self, preset: str = "latent", mnist=None, seed: int = 0, **overrides):
        if preset not in df.PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(df.PRESETS)}")
        nn.keras()  # quietly
        import tensorflow as tf

        from genlib.data import load_mnist
        from genlib.vae import VAE

        self.tf = tf
        self.preset, self.seed = preset, int(seed)
        self.config = {**df.PRESETS[preset], **overrides, "preset": preset}
        if self.config["target"] not in df.TARGETS:
            raise ValueError(f"unknown target {self.config['target']!r}")
        self.mnist = mnist if mnist is not None else load_mnist("sample")
        self.pixel = self.config["kind"] == "pixel"
        self.steps_per_call = CALL_STEPS.get(self.config["kind"], STEPS_PER_CALL)
        if self.pixel:  # the flow runs over the images themselves, scaled to [-1, 1]
            from genlib.denoisers import PixelSpace
            from genlib.denoisers_keras import build_unet

            self.vae, self.space = None, PixelSpace()
            mean = self.space.encode(self.mnist.train.images)[..., None]
            std = np.zeros(1, np.float32)
            self.code_mean = self.code_std = None
            self.dim = 28 * 28
            self.model = build_unet(self.config["channels"], self.config["emb"],
                                    self.config["groups"], self.config.get("patch", 1),
                                    seed=self.seed, name="denoiser")
        else:
            self.vae = VAE.load_pretrained(self.config["vae"])
            self.config["vae_sha256"] = self.vae.manifest.get("sha256")
            mean, std = latent_codes(self.vae, self.mnist.train.images)
            self.code_mean, self.code_std = code_stats(mean, std,
                                                       self.config["posterior_samples"])
            self.dim = mean.shape[1]
            self.spec = df.architecture(self.dim, self.config["hidden"], self.config["layers"])
            self.in_dim = self.dim + 2 * df.N_FREQUENCIES + df.N_CLASSES + 1
            self.model = nn.build_keras(self.spec, (self.in_dim,), "denoiser", seed=self.seed)
        from genlib.denoisers_keras import variable_names

        self.vars = self.model.trainable_variables
        self.names = variable_names(self.model)
        self.ema = [tf.Variable(v, trainable=False) for v in self.vars]
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.vars]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.vars]
        self.t_adam = tf.Variable(0.0, trainable=False)
        self.rng = tf.random.Generator.from_seed(self.seed)
        self.data_mean = tf.constant(mean)
        self.data_std = tf.constant(std)
        self.labels = tf.constant(self.mnist.train.labels.astype(np.int32))
        self.step = 0
        self.history: list[dict] = []
        self.seconds = 0.0
        self._run = self._compile()

    # -- the compiled loop

    def _compile(self):
        tf, c = self.tf, self.config
        batch, lr, decay = int(c["batch_size"]), float(c["learning_rate"]), float(c["ema"])
        p_uncond, posterior, target = float(c["p_uncond"]), bool(c.get("posterior_samples")), \
            c["target"]
        pixel = self.pixel
        if not pixel:
            mu, sd = tf.constant(self.code_mean), tf.constant(self.code_std)
        n_data = int(self.labels.shape[0])

        def one_step():
            idx = self.rng.uniform([batch], 0, n_data, dtype=tf.int32)
            z = tf.gather(self.data_mean, idx)
            if posterior:
                z = z + tf.gather(self.data_std, idx) * self.rng.normal(tf.shape(z))
            x0 = z if pixel else (z - mu) / sd
            eps = self.rng.normal(tf.shape(x0))
            t = self.rng.uniform([batch, 1])
            tb = tf.reshape(t, [batch, 1, 1, 1]) if pixel else t
            xt = (1.0 - tb) * x0 + tb * eps
            cls = tf.gather(self.labels, idx)
            drop = self.rng.uniform([batch]) < p_uncond
            cls = tf.where(drop, tf.fill([batch], df.NULL_CLASS), cls)
            cond = tf.concat([time_features_tf(t), tf.one_hot(cls, df.N_CLASSES + 1)], axis=1)
            inputs = [xt, cond] if pixel else tf.concat([xt, cond], axis=1)
            goal = {"velocity": eps - x0, "noise": eps, "clean": x0}[target]
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(self.model(inputs, training=True) - goal))
            grads = tape.gradient(loss, self.vars)
            t_adam = self.t_adam.assign_add(1.0)  # Adam, as keras.optimizers.Adam
            alpha = lr * tf.sqrt(1.0 - tf.pow(0.999, t_adam)) / (1.0 - tf.pow(0.9, t_adam))
            for var, g, m, v, e in zip(self.vars, grads, self.m, self.v, self.ema):
                m.assign_add((g - m) * 0.1)
                v.assign_add((tf.square(g) - v) * 0.001)
                var.assign_sub(m * alpha / (tf.sqrt(v) + 1e-7))
                # EMA warm-up (min(decay, (1 + n) / (10 + n))): early steps are not averaged
                # with the random initial weights
                d = tf.minimum(decay, (1.0 + t_adam) / (10.0 + t_adam))
                e.assign(d * e + (1.0 - d) * var)
            return loss

        @tf.function
        def run(n):
            total = tf.constant(0.0)
            for _ in tf.range(n):
                total += one_step()
            return total / tf.cast(n, tf.float32)

        return run

    # -- the Trainer protocol

    def train(self, steps: int) -> dict:
        """Train ``steps`` steps; returns {"steps", "loss"} (the mean loss over them)."""
        steps, done, losses = int(steps), 0, []
        t0 = time.perf_counter()
        while done < steps:
            k = min(self.steps_per_call, steps - done)
            losses.append((k, float(self._run(self.tf.constant(k)))))
            done += k
            self.step += k
            if self.step % HISTORY_EVERY < k:
                self.history.append({"step": self.step, "loss": round(losses[-1][1], 5)})
        self.seconds += time.perf_counter() - t0
        loss = sum(k * v for k, v in losses) / max(done, 1)
        return {"steps": done, "loss": loss}

    def train_for(self, seconds: float, max_steps: int | None = None) -> dict:
        """Train for about ``seconds`` (whole calls of up to 100 steps, 10 for a U-Net)."""
        deadline, done, weighted = time.perf_counter() + float(seconds), 0, 0.0
        while time.perf_counter() < deadline and (max_steps is None or done < max_steps):
            per = self.steps_per_call
            k = per if max_steps is None else min(per, max_steps - done)
            r = self.train(k)
            done += r["steps"]
            weighted += r["loss"] * r["steps"]
        return {"steps": done, "loss": weighted / done if done else float("nan")}

    def model_now(self) -> df.DiffusionModel:
        """The numpy model with the EMA weights (what sampling and saving use)."""
        from genlib.diffusion import LatentSpace

        space = (self.space if self.pixel
                 else LatentSpace(self.vae, self.code_mean, self.code_std))
        return df.DiffusionModel(self.config, self.weights(), self.manifest(), space=space)

    def snapshot(self) -> dict:
        """Step, recent loss and ten fixed-noise samples (one per digit), all numpy."""
        model = self.model_now()
        images = np.concatenate([model.sample(1, rng=12345, digit=k).images for k in range(10)])
        return {"step": self.step, "history": list(self.history), "images": images,
                "loss": self.history[-1]["loss"] if self.history else None}

    # -- weights and files

    def _named(self, variables) -> dict:
        """``{"<layer>/<weight>": array}`` of a list parallel to the trainable variables."""
        return {n: np.asarray(v.numpy(), np.float32) for n, v in zip(self.names, variables)}

    def weights(self) -> dict:
        """Arrays of the checkpoint: ``net/*`` (EMA) and the code statistics (latent)."""
        out = {f"net/{k}": v for k, v in self._named(self.ema).items()}
        if not self.pixel:
            out.update({"space/mean": self.code_mean, "space/std": self.code_std})
        return out

    def training_state(self) -> dict:
        """Raw weights and Adam's moments: what ``--resume`` needs beyond the EMA."""
        out = {}
        for prefix, vs in (("raw", self.vars), ("adam_m", self.m), ("adam_v", self.v)):
            out.update({f"train/{prefix}/{k}": v for k, v in self._named(vs).items()})
        return out

    def manifest(self, **extra) -> dict:
        return {"family": df.FAMILY, "preset": self.preset, "config": self.config,
                "step": self.step, "adam_step": int(self.t_adam.numpy()), "seed": self.seed,
                "data_source": self.mnist.source, "data_kind": self.mnist.kind,
                "n_train": len(self.mnist.train), "train_seconds": round(self.seconds, 1),
                "date": _dt.date.today().isoformat(), "history": self.history[-400:], **extra}

    def save(self, path, **extra) -> Path:
        model = self.model_now()
        model.manifest = self.manifest(**extra)
        return model.save(path, extra_arrays=self.training_state())

    def restore(self, path) -> None:
        """Continue from a checkpoint this trainer's settings wrote (weights, EMA, Adam)."""
        from genlib import checkpoints

        manifest, arrays = checkpoints.read(path, df.FAMILY)
        keep = ("target", "hidden", "layers", "vae", "kind", "posterior_samples", "channels",
                "emb", "groups", "patch")
        theirs = manifest.get("config", {})
        differ = [k for k in keep if theirs.get(k) != self.config.get(k)]
        if differ:
            raise ValueError(f"{path}: trained with other settings ({', '.join(differ)}); "
                             "cannot resume")
        if "train/raw/out/kernel" not in arrays:
            raise ValueError(f"{path}: holds no training state (raw weights, Adam); "
                             "cannot resume")
        for prefix, vs in (("net", self.ema), ("train/raw", self.vars), ("train/adam_m", self.m),
                           ("train/adam_v", self.v)):
            for v, name in zip(vs, self.names):
                v.assign(arrays[f"{prefix}/{name}"])
        if not self.pixel:
            self.code_mean = arrays["space/mean"].astype(np.float32)
            self.code_std = arrays["space/std"].astype(np.float32)
            self._run = self._compile()  # the statistics are constants of the trace
        self.t_adam.assign(float(manifest.get("adam_step", manifest.get("step", 0))))
        self.step = int(manifest.get("step", 0))
        self.history = list(manifest.get("history", []))
        self.seconds = float(manifest.get("train_seconds", 0.0))
        self.rng.reset_from_seed(self.seed + self.step)  # fresh batches, not a replay


def cli(argv: list[str]) -> None:
    """``python -m genlib.train diffusion [--preset latent] [--minutes M | --steps N]``."""
    p = argparse.ArgumentParser(prog="python -m genlib.train diffusion",
                                description="Train the flow-matching model of the Diffusion "
                                            "page and save a checkpoint (.npz + .json).")
    p.add_argument("--preset", choices=list(df.PRESETS), default="latent")
    p.add_argument("--minutes", type=float, default=None, help="wall-clock training time")
    p.add_argument("--steps", type=int, default=None,
                   help="train until this many steps in all (default 20,000 if no --minutes)")
    p.add_argument("--resume", action="store_true", help="continue from the output file")
    p.add_argument("--output", default=None,
                   help="checkpoint path (.npz); default: the user cache folder, never the "
                        "shipped file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", choices=df.TARGETS, default=None,
                   help="what the network predicts (default: the preset's, velocity)")
    p.add_argument("--codes", choices=["posterior", "mean"], default=None,
                   help="train on posterior samples of the codes or on their means")
    args = p.parse_args(argv)
    if args.minutes is not None and args.minutes <= 0:
        raise ValueError("--minutes must be positive")
    if args.steps is not None and args.steps <= 0:
        raise ValueError("--steps must be positive")
    out = Path(args.output) if args.output else user_weights_path(args.preset)
    overrides = {}
    if args.target:
        overrides["target"] = args.target
    if args.codes:
        overrides["posterior_samples"] = args.codes == "posterior"
    trainer = DiffusionTrainer(args.preset, seed=args.seed, **overrides)
    if args.resume:
        trainer.restore(out)
        print(f"resumed {out} at step {trainer.step:,}")
    goal = args.steps if args.steps is not None else (None if args.minutes else 20_000)
    print(f"training the {args.preset} flow-matching model ({trainer.config['target']}) on "
          f"{len(trainer.mnist.train):,} digits of {trainer.mnist.source}", flush=True)
    t0 = time.perf_counter()
    deadline = t0 + args.minutes * 60 if args.minutes else float("inf")
    while time.perf_counter() < deadline and (goal is None or trainer.step < goal):
        left = 1000 if goal is None else min(1000, goal - trainer.step)
        r = trainer.train_for(min(5.0, max(deadline - time.perf_counter(), 0.01)), left)
        print(f"step {trainer.step:>7,}  loss {r['loss']:.4f}  "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    seconds = time.perf_counter() - t0
    trainer.save(out, steps_per_second=round(trainer.step / max(trainer.seconds, 1e-9)),
                 command=" ".join(["python -m genlib.train diffusion", *argv]))
    print(f"{trainer.step:,} steps in all, {seconds:.0f} s this run; saved {out}")


if __name__ == "__main__":  # pragma: no cover
    import sys

    cli(sys.argv[1:])
