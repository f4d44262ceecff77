"""The mlp GAN's train step in numpy: the first steps of a Play while TensorFlow still loads.

``import tensorflow`` takes 5-8 s on a loaded 2-core machine; the mlp preset is small enough
that numpy trains it at once. :class:`NumpyStep` does what :class:`genlib.gan_step.Step` does
for the mlp preset (d_steps discriminator updates on a fresh real batch and fresh noise,
then one generator update; non-saturating loss with one-sided label smoothing or least
squares; Adam with beta_1 = 0.5 as ``gan_step``'s hand-written ``adam``), on the same random
stream: :func:`stateless_uniform_int` reproduces TensorFlow's
``tf.random.stateless_uniform(shape, seed, 0, n, dtype=tf.int32)`` bit for bit (Philox-4x32-10,
the key and counter TensorFlow derives from the seed, ``lo + bits % range``). So a run that
starts here and moves to TensorFlow (:class:`genlib.gan_train.GANTrainer` hands the weights,
Adam's moments and the noise counter over) follows the TensorFlow run to float round-off.

Numpy only: importing this module never imports TensorFlow (nor scipy).
"""

from __future__ import annotations

import contextlib

import numpy as np

from genlib.nn import LEAK

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # scikit-learn's dependency; without it BLAS keeps its threads
    threadpool_limits = None

__all__ = ["stateless_uniform_int", "stateless_normal", "erfinv", "keras_glorot_uniform",
           "glorot_weights", "NumpyStep"]

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)  # Philox-4x32 multipliers
_W0, _W1 = 0x9E3779B9, 0xBB67AE85  # its key increments (golden ratio, sqrt(3) - 1)
_SEED_KEY = (0x3EC8F720, 0x02461E29)  # TensorFlow's key for scrambling a stateless seed
_LOW = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)
NORMAL_BITS = 24  # gan_step's normals: erfinv of a uniform made from 24-bit integers


def _philox(counter: list, key: tuple) -> np.ndarray:
    """Philox-4x32-10 of the counters ``counter`` (four uint64 arrays of 32-bit words):
    (n, 4) uint64 of 32-bit outputs."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        p0, p1 = _M0 * c0, _M1 * c2  # 32 x 32 -> 64 bits: exact in uint64
        c0, c1, c2, c3 = ((p1 >> _32) ^ c1 ^ np.uint64(k0), p1 & _LOW,
                          (p0 >> _32) ^ c3 ^ np.uint64(k1), p0 & _LOW)
        k0, k1 = (k0 + _W0) & 0xFFFFFFFF, (k1 + _W1) & 0xFFFFFFFF
    return np.stack([c0, c1, c2, c3], axis=1)


def _key_counter(seed) -> tuple[tuple[int, int], int]:
    """TensorFlow's (key, 128-bit counter) for a stateless seed pair (StatelessRandomGetKeyCounter):
    the seed's words as a counter, scrambled by one Philox call."""
    s0, s1 = (int(s) & 0xFFFFFFFFFFFFFFFF for s in seed)
    words = [np.array([w], np.uint64) for w in (s0 & 0xFFFFFFFF, s0 >> 32,
                                                s1 & 0xFFFFFFFF, s1 >> 32)]
    mix = [int(w) for w in _philox(words, _SEED_KEY)[0]]
    return (mix[0], mix[1]), (mix[2] << 64) | (mix[3] << 96)


def stateless_uniform_int(shape, seed, low: int, high: int) -> np.ndarray:
    """``tf.random.stateless_uniform(shape, seed, low, high, dtype=tf.int32)`` on the CPU, bit
    for bit: int32 array of ``shape`` in [low, high). ``seed``: two integers."""
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    if not high > low:
        raise ValueError(f"need high > low, got [{low}, {high})")
    bits = _bits(int(np.prod(shape)), seed)
    span = np.uint64((int(high) - int(low)) & 0xFFFFFFFF)
    return (int(low) + (bits % span).astype(np.int64)).astype(np.int32).reshape(shape)


def stateless_normal(shape, seed) -> np.ndarray:
    """The standard normals of ``gan_step``'s ``draw(s, "normal", shape)`` (float32): from 24-bit
    integers of :func:`stateless_uniform_int`, u = (bits + 0.5) / 2**23 - 1 (exact), then
    sqrt(2) erfinv(u) (TensorFlow's erfinv and :func:`erfinv` differ by < 1e-6 relative)."""
    return normals_from_bits(stateless_uniform_int(shape, seed, 0, 1 << NORMAL_BITS))


def normals_from_bits(bits) -> np.ndarray:
    """Normals (float32) from integers in [0, 2**24), as ``gan_step`` makes them."""
    u = (np.asarray(bits).astype(np.float32) - np.float32(2.0**23 - 0.5)) * np.float32(2.0**-23)
    return (np.sqrt(2.0) * -np.sign(u) * erfinv(-np.abs(u))).astype(np.float32)


def erfinv(x) -> np.ndarray:
    """The inverse error function on (-1, 1), float64, to ~1e-7 relative: M. Giles'
    single-precision approximation ("Approximating the erfinv function", GPU Computing Gems,
    2011), the one XLA uses for float32; scipy.special.erfinv would cost a 0.3 s import."""
    x = np.asarray(x, np.float64)
    w = -np.log((1.0 - x) * (1.0 + x))
    central, tail = w - 2.5, np.sqrt(w) - 3.0
    p = np.full_like(x, 2.81022636e-08)
    q = np.full_like(x, -0.000200214257)
    for a, b in ((3.43273939e-07, 0.000100950558), (-3.5233877e-06, 0.00134934322),
                 (-4.39150654e-06, -0.00367342844), (0.00021858087, 0.00573950773),
                 (-0.00125372503, -0.0076224613), (-0.00417768164, 0.00943887047),
                 (0.246640727, 1.00167406), (1.50140941, 2.83297682)):
        p = a + p * central
        q = b + q * tail
    return np.where(w < 5.0, p, q) * x


def _bits(n: int, seed) -> np.ndarray:
    """The first ``n`` 32-bit words (uint64) of TensorFlow's stateless stream for ``seed``."""
    key, start = _key_counter(seed)
    groups = (n + 3) // 4  # one Philox call gives four words
    lo64 = np.uint64(start & 0xFFFFFFFFFFFFFFFF) + np.arange(groups, dtype=np.uint64)
    hi64 = np.full(groups, start >> 64, np.uint64)  # the low 64 bits start at 0: no carry
    return _philox([lo64 & _LOW, lo64 >> _32, hi64 & _LOW, hi64 >> _32], key).reshape(-1)[:n]


def keras_glorot_uniform(shape, seed: int) -> np.ndarray:
    """``keras.initializers.GlorotUniform(seed=seed)(shape)`` for a dense kernel on the
    TensorFlow backend, bit for bit, without TensorFlow: ``stateless_uniform(shape, [seed,
    0])`` in +-sqrt(6 / (fan_in + fan_out)), a float32 made from 23 random mantissa bits."""
    fan_in, fan_out = (int(s) for s in shape)
    limit = np.float32(np.sqrt(6.0 / (fan_in + fan_out)))
    bits = _bits(fan_in * fan_out, [int(seed), 0]).astype(np.uint32)
    u = ((bits & np.uint32(0x7FFFFF)) | np.uint32(0x3F800000)).view(np.float32) - np.float32(1)
    return (u * (limit - -limit) + -limit).reshape(fan_in, fan_out)


def glorot_weights(spec: list[dict], n_in: int, seed: int) -> list[np.ndarray]:
    """Initial weights of a dense-only ``spec`` (genlib.nn format) in Keras' variable order
    (kernel, bias per layer), as ``nn.build_keras(spec, ..., seed=seed)`` makes them: layer
    ``i``'s kernel ``GlorotUniform(seed * 101 + i)``, biases zero."""
    out = []
    for i, layer in enumerate(spec):
        if layer["type"] != "dense":
            raise ValueError(f"glorot_weights takes dense layers only, got {layer['type']!r}")
        out += [keras_glorot_uniform((n_in, layer["units"]), seed * 101 + i),
                np.zeros(layer["units"], np.float32)]
        n_in = layer["units"]
    return out


def _one_blas_thread():
    return (threadpool_limits(1, user_api="blas") if threadpool_limits is not None
            else contextlib.nullcontext())


def _leaky(x):
    return np.where(x >= 0, x, np.float32(LEAK) * x)


def _sigmoid(x):
    return (0.5 * (np.tanh(0.5 * x) + 1.0)).astype(np.float32)


class NumpyStep:
    """The mlp GAN's state and train step in numpy (see the module docstring).

    Parameters
    ----------
    g, d : the generator's and discriminator's weights, Keras' variable order
        (hidden kernel, hidden bias, output kernel, output bias), float32
    data : uint8 (rows, 784), the training digits; the first ``n_data`` rows are drawn from
    noise : the stateless seed pair of the next draw (its second word counts draws)
    settings : as :func:`genlib.gan.validate_settings` returns them for the mlp preset

    Attributes ``m_g``, ``v_g``, ``m_d``, ``v_d`` (Adam's moments, one per weight) and
    ``t_g``, ``t_d`` (its step counts) are what a TensorFlow trainer takes over.
    """

    def __init__(self, g: list, d: list, data: np.ndarray, n_data: int, noise, settings: dict):
        self.g = [np.array(w, np.float32) for w in g]
        self.d = [np.array(w, np.float32) for w in d]
        self.m_g = [np.zeros_like(w) for w in self.g]
        self.v_g = [np.zeros_like(w) for w in self.g]
        self.m_d = [np.zeros_like(w) for w in self.d]
        self.v_d = [np.zeros_like(w) for w in self.d]
        self.t_g = self.t_d = 0
        self.data, self.n_data = data, int(n_data)
        self.noise = [int(noise[0]), int(noise[1])]
        self.settings = dict(settings)

    def _draw(self, kind: str, shape) -> np.ndarray:
        seed = tuple(self.noise)
        self.noise[1] += 1
        if kind == "normal":
            return stateless_normal(shape, seed)
        return stateless_uniform_int(shape, seed, 0, self.n_data)

    def _real_batch(self, batch: int) -> np.ndarray:
        x = self.data[self._draw("index", [batch])].astype(np.float32) / np.float32(255.0)
        return x * np.float32(2.0) - np.float32(1.0) if self.settings["output"] == "tanh" else x

    # -- forward and backward (one hidden layer each)

    def generate(self, z: np.ndarray, cache: bool = False):
        """The generator's raw output (n, 784) for ``z`` (and what backprop needs)."""
        w1, b1, w2, b2 = self.g
        h = z @ w1 + b1
        a = _leaky(h)
        pre = a @ w2 + b2
        out = np.tanh(pre) if self.settings["output"] == "tanh" else _sigmoid(pre)
        return (out, (z, h, a, out)) if cache else out

    def _g_backward(self, cache, d_out) -> list:
        z, h, a, out = cache
        dpre = d_out * (1.0 - out * out if self.settings["output"] == "tanh"
                        else out * (1.0 - out))
        da = dpre @ self.g[2].T
        dh = da * np.where(h >= 0, np.float32(1.0), np.float32(LEAK))
        return [z.T @ dh, dh.sum(0), a.T @ dpre, dpre.sum(0)]

    def _discriminate(self, x: np.ndarray):
        """D's logits (n_packs,) for images x (batch, 784), packed; and the cache."""
        w1, b1, w2, b2 = self.d
        xp = x.reshape(-1, w1.shape[0])
        h = xp @ w1 + b1
        a = _leaky(h)
        return (a @ w2 + b2)[:, 0], (xp, h, a)

    def _d_backward(self, cache, dlogit, wrt_input: bool = False):
        """Gradients of D's weights for dL/dlogit (and of its input (batch, 784) if asked)."""
        xp, h, a = cache
        w1, _, w2, _ = self.d
        dl = dlogit[:, None]
        dh = (dl @ w2.T) * np.where(h >= 0, np.float32(1.0), np.float32(LEAK))
        if wrt_input:
            return (dh @ w1.T).reshape(-1, 784)
        return [xp.T @ dh, dh.sum(0), a.T @ dl, dl.sum(0)]

    def _adam(self, params, grads, m, v, t, lr, beta_2=0.999, eps=1e-7) -> None:
        t32 = np.float32(t)
        alpha = np.float32(lr) * np.sqrt(np.float32(1.0) - np.float32(beta_2) ** t32) \
            / (np.float32(1.0) - np.float32(0.5) ** t32)
        for p, g, mi, vi in zip(params, grads, m, v):
            g = g.astype(np.float32, copy=False)
            mi += (g - mi) * np.float32(0.5)
            vi += (g * g - vi) * np.float32(1.0 - beta_2)
            p -= mi * alpha / (np.sqrt(vi) + np.float32(eps))

    # -- the step

    def run(self, n: int) -> np.ndarray:
        """``n`` train steps; their metrics (n, 4): d_loss, g_loss, d_real, d_fake.

        BLAS on one thread meanwhile: these products are small, and on a loaded 2-core
        machine a second BLAS thread made a step 4-17x slower (10 ms -> 45-170 ms)."""
        with _one_blas_thread():
            return self._run(n)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """The generator's raw output (n, 784) for ``z``, BLAS on one thread (see ``run``)."""
        with _one_blas_thread():
            return self.generate(np.asarray(z, np.float32))

    def _run(self, n: int) -> np.ndarray:
        s = self.settings
        batch, latent = s["batch_size"], s["latent_dim"]
        ls = s["loss"] == "least-squares"
        target = np.float32(1.0 - s["label_smoothing"])
        out = np.zeros((int(n), 4), np.float32)
        for i in range(int(n)):
            for _ in range(s["d_steps"]):
                x = self._real_batch(batch)
                fake = self.generate(self._draw("normal", [batch, latent]))
                # real and fake packs through D at once: one product per layer
                both, cache = self._discriminate(np.concatenate([x, fake]))
                real_out, fake_out = np.split(both, 2)
                k = np.float32(len(real_out))
                if ls:
                    d_loss = 0.5 * (np.mean(np.square(real_out - target))
                                    + np.mean(np.square(fake_out)))
                    dlogit = np.concatenate([real_out - target, fake_out]) / k
                    d_real = np.mean(real_out)
                else:
                    d_loss = (np.mean(np.maximum(real_out, 0) - real_out * target
                                      + np.log1p(np.exp(-np.abs(real_out))))
                              + np.mean(np.logaddexp(np.float32(0.0), fake_out)))
                    p = _sigmoid(both)
                    dlogit = (p - np.concatenate([np.full_like(real_out, target),
                                                  np.zeros_like(fake_out)])) / k
                    d_real = np.mean(p[:len(real_out)])
                grads = self._d_backward(cache, dlogit.astype(np.float32))
                self.t_d += 1
                self._adam(self.d, grads, self.m_d, self.v_d, self.t_d, s["lr_d"])
            fake, g_cache = self.generate(self._draw("normal", [batch, latent]), cache=True)
            fake_out, fake_cache = self._discriminate(fake)
            k = np.float32(len(fake_out))
            if ls:
                g_loss = 0.5 * np.mean(np.square(fake_out - 1.0))
                dlogit = (fake_out - 1.0) / k
                d_fake = np.mean(fake_out)
            else:
                g_loss = np.mean(np.logaddexp(np.float32(0.0), -fake_out))
                dlogit = (_sigmoid(fake_out) - 1.0) / k
                d_fake = np.mean(_sigmoid(fake_out))
            dx = self._d_backward(fake_cache, dlogit.astype(np.float32), wrt_input=True)
            self.t_g += 1
            self._adam(self.g, self._g_backward(g_cache, dx), self.m_g, self.v_g, self.t_g,
                       s["lr_g"])
            out[i] = d_loss, g_loss, d_real, d_fake
        return out
