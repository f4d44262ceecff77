"""A GAN trainer that trains at once on numpy and moves to TensorFlow when it has loaded.

On a fresh server ``import tensorflow`` takes 5-8 s while the page renders on the same two
cores, then building and tracing the step another 1-3 s: a Play right after the page opened
waited 12-15 s for its first step. :class:`NumpyStartTrainer` (the mlp preset only) trains
its first steps with :class:`genlib.gan_numpy_step.NumpyStep` while a background thread
imports TensorFlow, builds the trainer's TensorFlow side (its Keras models, variables, the
shared compiled step, traced on a zero-step call) and then, between two chunks of steps,
takes over: the weights, Adam's moments and step counts, the noise counter and the settings
move into the TensorFlow variables, and :class:`genlib.gan_train.GANTrainer` goes on as
always (its step without XLA while XLA compiles, then XLA's).

The numpy step draws the same batches and noise (TensorFlow's own Philox stream) from the
same initial weights, so a run is the same whichever step it starts on and whenever the
handover comes, up to float round-off (which a GAN's training amplifies: at the mlp preset's
learning rates the two steps' losses part after a few dozen steps, as XLA's and TensorFlow's
do). If TensorFlow cannot be loaded the trainer keeps training
on numpy (``tf_error`` says why). Importing this module never imports TensorFlow.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from genlib import gan, gan_step
from genlib.gan import ARCHITECTURE
from genlib.gan_numpy_step import NumpyStep, glorot_weights
from genlib.gan_train import D_SEED_OFFSET, GANTrainer, _padded

__all__ = ["NumpyStartTrainer"]

# The TensorFlow side waits for the first FIRST_STEPS numpy steps (at most FIRST_STEPS_S):
# importing TensorFlow holds Python's GIL for seconds at a time, and made those first steps
# 5-10x slower (160 ms a step); they are the point of starting on numpy.
FIRST_STEPS = 16
FIRST_STEPS_S = 3.0
FIRST_CHUNK = 2  # numpy steps in a slice's first chunk, before its speed is known


class NumpyStartTrainer(GANTrainer):
    """:class:`genlib.gan_train.GANTrainer` for the mlp preset that needs no TensorFlow to
    start (see the module docstring); the same parameters.

    Attributes
    ----------
    on_numpy : True while the numpy step trains (the TensorFlow side is being built)
    tf_error : why the TensorFlow side could not be built (training stays on numpy), or None
    """

    def __init__(self, preset: str = "mlp", seed: int = 0, images=None, jit: bool | None = None,
                 jit_later: bool = False, **settings):
        if preset != "mlp":
            raise ValueError(f"a numpy start is for the mlp preset only, not {preset!r} "
                             "(its convolutions wait for TensorFlow)")
        self._np: NumpyStep | None = None
        self.best = False  # no moving average, R1 or hinge (the best presets' TensorFlow step)
        self.tf_error: str | None = None
        self._tf_built = threading.Event()
        self._first_steps = threading.Event()
        self._np_rate: float | None = None  # numpy steps/s, measured
        super().__init__(preset, seed, images=images, jit=jit, jit_later=jit_later, **settings)

    # -- construction

    def _build(self, images: np.ndarray) -> None:
        """The numpy step now (Keras' own initial weights, the uint8 data, the noise pair
        [seed, 0]); the TensorFlow side in a background thread."""
        rows = np.zeros((_padded(len(images)), 784), np.uint8)
        rows[:len(images)] = (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8).reshape(-1, 784)
        g = glorot_weights(self.generator_spec, self.settings["latent_dim"], self.seed)
        d = glorot_weights(self.discriminator_spec, 784 * self.settings["pack"],
                           self.seed + D_SEED_OFFSET)
        self._np = NumpyStep(g, d, rows, len(images), [self.seed, 0], self.settings)
        self._warm: set = set()
        threading.Thread(target=self._build_tf, args=(images,), name="genlab-gan-tf-side",
                         daemon=True).start()

    def _build_tf(self, images: np.ndarray) -> None:
        self._first_steps.wait(FIRST_STEPS_S)
        try:
            GANTrainer._build(self, images)  # imports TensorFlow (or waits for its import)
            # what _run calls first; XLA's compile starts with the first TensorFlow chunk, not
            # now: on 2 cores, beside it, this trace took 3.4 s instead of ~2 (the handover
            # waits for it while numpy trains at a few steps/s beside TensorFlow's import)
            step = self._compiled(start_xla=False)
            step.run(self._state(), self._tf.constant(0, self._tf.int32))  # traces it
            step.ready.set()
            self._tf_built.set()
        except Exception as e:  # noqa: BLE001 -- training goes on in numpy; the page says why
            self.tf_error = f"{type(e).__name__}: {e}"
        finally:
            if getattr(self, "closed", False):  # closed while building: free what was built
                GANTrainer.close(self)

    def _hand_over(self) -> None:
        """Move the numpy state into the TensorFlow variables (in the training thread,
        between two chunks); from here on the TensorFlow step trains."""
        state = self._np
        for model, weights in ((self.G, state.g), (self.D, state.d)):
            for var, w in zip(model.trainable_variables, weights):
                var.assign(w)
        for opt, m, v, t in ((self.opt_g, state.m_g, state.v_g, state.t_g),
                             (self.opt_d, state.m_d, state.v_d, state.t_d)):
            for var, w in zip(opt.m, m):
                var.assign(w)
            for var, w in zip(opt.v, v):
                var.assign(w)
            opt.iterations.assign(float(t))
        self._noise.assign(state.noise)
        self._np = None
        GANTrainer.set(self)  # the settings changed meanwhile, into the step's variables

    # -- what differs while on numpy

    @property
    def on_numpy(self) -> bool:
        return self._np is not None

    def set(self, **settings) -> None:
        if self._np is None:
            return super().set(**settings)
        fixed = [k for k in settings if k in ARCHITECTURE and settings[k] != self.settings[k]]
        if fixed:
            raise ValueError(f"{', '.join(fixed)} can only change at reset (build a new trainer)")
        self.settings = gan.validate_settings(self.preset, **{**self.settings, **settings})
        self._np.settings = dict(self.settings)  # the TensorFlow side gets them at handover

    def _run(self, k: int):
        if self._np is not None:
            if not self._tf_built.is_set():  # non-blocking: numpy until TensorFlow is ready
                out = self._np.run(k)
                if self._np.t_g >= FIRST_STEPS:
                    self._first_steps.set()
                return out
            self._hand_over()
        return super()._run(k)

    def train_for(self, seconds: float, max_steps: int | None = None) -> dict:
        """As GANTrainer's, in chunks sized by the numpy step's own speed while on numpy
        (GANTrainer's first chunk of 32 steps took 0.5-1.5 s on numpy under load: the first
        step would show that much later)."""
        if self._np is None:
            return super().train_for(seconds, max_steps)
        t0 = time.perf_counter()
        rows, done = [], 0
        while self._np is not None:  # a handover ends the slice: the next one is TensorFlow's
            left = seconds - (time.perf_counter() - t0)
            if done and left <= 0:
                break
            k = FIRST_CHUNK if self._np_rate is None else int(np.clip(left * self._np_rate, 1,
                                                                      gan_step.CHUNK))
            if max_steps is not None:
                k = min(k, max_steps - done)
            if k <= 0:
                break
            t1 = time.perf_counter()
            rows.append(self._run(k))
            if self._np is not None:
                self._np_rate = k / max(time.perf_counter() - t1, 1e-6)
            done += k
        return self._record(rows)

    @property
    def compiling(self) -> bool:
        return False if self._np is not None else super().compiling

    def _generate(self, z: np.ndarray) -> np.ndarray:
        if self._np is not None:
            return self._np.decode(z)
        return super()._generate(z)

    def weights(self) -> dict:
        if self._np is None:
            return super().weights()
        out = {}
        for prefix, spec, values in (("g", self.generator_spec, self._np.g),
                                     ("d", self.discriminator_spec, self._np.d)):
            names = [f"{prefix}/{layer['name']}/{kind}" for layer in spec
                     for kind in ("kernel", "bias")]
            out.update({name: w.copy() for name, w in zip(names, values)})
        return out

    def _set_weights(self, weights: dict) -> None:
        if self._np is None:
            return super()._set_weights(weights)
        mine = self.weights()
        for key, w in mine.items():
            if key not in weights or tuple(weights[key].shape) != w.shape:
                raise ValueError(f"weights for {key} are missing or have the wrong shape")
        values = [np.asarray(weights[key], np.float32) for key in mine]
        n_g = len(self._np.g)
        self._np.g, self._np.d = values[:n_g], values[n_g:]

    def _set_noise(self, seed_pair: list) -> None:
        if self._np is None:
            return super()._set_noise(seed_pair)
        self._np.noise = [int(s) for s in seed_pair]

    def close(self) -> None:
        super().close()
        self._np = None
        self.__dict__.pop("_rows", None)

