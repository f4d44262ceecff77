"""The GAN's compiled train step: one ``tf.function`` per architecture and batch size, shared
by every trainer in the process (every browser session), and its XLA compile in the background.

:class:`genlib.gan_train.GANTrainer` holds a session's variables and calls :func:`compiled`
with them; nothing here keeps a session's variables, so a closed session's memory is not
pinned by the cache. TensorFlow is imported when a step is first built.
"""

from __future__ import annotations

import threading

from genlib import gan, nn
from genlib.gan import METRICS

__all__ = ["CHUNK", "AdamState", "compiled", "compile_in_background", "hinge_d_loss",
           "hinge_g_loss", "r1_penalty", "ema_step"]

CHUNK = 32  # steps per compiled call: amortises Python overhead, keeps a call under ~0.1 s


class AdamState:
    """Adam's state for one network as plain variables (Keras' Adam update, beta_1 = 0.5):
    the shared compiled step updates them, so no optimizer object is tied to a trace."""

    def __init__(self, tf, variables: list, learning_rate: float, beta_1: float = 0.5):
        self.learning_rate = tf.Variable(learning_rate, dtype=tf.float32, trainable=False)
        self.beta_1 = beta_1
        self.iterations = tf.Variable(0.0, dtype=tf.float32, trainable=False)
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]

    def state(self) -> dict:
        return {"lr": self.learning_rate, "t": self.iterations, "m": self.m, "v": self.v}


# ----------------------------------------------------------------------------- best presets
# What the best presets add (traced for them only: the seed-faithful presets' step is as it was).


def hinge_d_loss(tf, real_out, fake_out):
    """D's hinge loss: mean relu(1 - D(x)) + mean relu(1 + D(G(z))) (logits)."""
    return (tf.reduce_mean(tf.nn.relu(1.0 - real_out))
            + tf.reduce_mean(tf.nn.relu(1.0 + fake_out)))


def hinge_g_loss(tf, fake_out):
    """G's hinge loss: -mean D(G(z))."""
    return -tf.reduce_mean(fake_out)


def r1_penalty(tf, d_of, x, gamma):
    """R1 (Mescheder et al. 2018): gamma/2 * mean over rows of |grad_x D(x)|^2, x real (n, k);
    ``d_of(x)``: one logit per row. Differentiable in D's weights (a gradient of a gradient)."""
    with tf.GradientTape() as inner:
        inner.watch(x)
        out = tf.reduce_sum(d_of(x))
    g = inner.gradient(out, x)
    return 0.5 * gamma * tf.reduce_mean(tf.reduce_sum(tf.square(g), axis=1))


def ema_step(tf, averages, variables, ema, t):
    """One moving-average update after G's step ``t`` (1, 2, ...): avg <- d avg + (1 - d) var,
    d = min(ema, (1 + t) / (10 + t)), so early averages are not dragged to the initial G."""
    decay = tf.minimum(tf.cast(ema, tf.float32), (1.0 + t) / (10.0 + t))
    for avg, var in zip(averages, variables):
        avg.assign(decay * avg + (1.0 - decay) * var)


_compiled_lock = threading.Lock()
_compiled_cache: dict = {}


class Step:
    """The train step and the generator of one architecture and batch size, traced once per
    process and shared by every trainer (every browser session) that has them.

    A trainer passes its own variables in (``GANTrainer._state``); TensorFlow keys a trace by
    the variables' shapes, not by which variables they are, and XLA caches the compiled
    program the same way. Building and compiling it took 6-10 s per session on a loaded
    2-core machine; sessions after the first now start at once. Nothing here holds a
    session's variables, so a closed session's memory is not pinned by the cache.
    """

    def __init__(self, preset: str, latent: int, output: str, pack: int, batch: int,
                 jit: bool):
        nn.keras()  # quietly
        import tensorflow as tf

        g_spec, d_spec = gan.architecture(preset, latent, output)
        # templates: the layers to call with a session's weights (their own are never used)
        G = nn.build_keras(g_spec, (latent,), "generator", seed=0)
        Dm = nn.build_keras(d_spec, (784 * pack,), "discriminator", seed=0)
        packed = 784 * pack
        tanh = output == "tanh"
        best = preset in gan.BEST  # EMA of G, R1 and the hinge loss: traced for these only

        def gen(g, z, training):
            return G.stateless_call(g, [], z, training=training)[0]

        def D(d, x, training):  # one logit per pack of images
            return Dm.stateless_call(d, [], tf.reshape(x, [-1, packed]), training=training)[0]

        def draw(s, kind, shape):  # stateless draws from the session's own noise counter
            seed = s["noise"].read_value()
            s["noise"].assign_add(tf.constant([0, 1], tf.int64))
            if kind == "normal":  # XLA's own normal (and float uniform) stream differs from
                # TensorFlow's; integer draws agree, so both make the same normals from them
                bits = tf.random.stateless_uniform(shape, seed, 0, 1 << 24, dtype=tf.int32)
                # u = (bits + 0.5) / 2**23 - 1, exact in float32 (genlib.gan_numpy_step does
                # the same): bits + 0.5 rounded 2**24 - 0.5 up to 2**24, u to 1.0 and the
                # normal to inf (once in 2**24 draws, every ~2,000 steps; G's output NaN)
                u = (tf.cast(bits, tf.float32) - (2.0**23 - 0.5)) * 2.0**-23
                # TensorFlow's CPU erfinv (not XLA's) loses the upper tail in float32 (steps
                # of 0.05 above 3.4, inf at 1 - 2**-24); its lower tail is exact: use that
                return tf.sqrt(2.0) * -tf.sign(u) * tf.math.erfinv(-tf.abs(u))
            return tf.random.stateless_uniform(shape, seed, 0, s["n_data"], dtype=tf.int32)

        def real_batch(s):
            x = tf.cast(tf.gather(s["data"], draw(s, "index", [batch])), tf.float32) / 255.0
            return x * 2.0 - 1.0 if tanh else x

        def d_losses(s, real_out, fake_out):
            target = 1.0 - s["smooth"]
            ns = (tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
                tf.fill(tf.shape(real_out), target), real_out))
                + tf.reduce_mean(tf.nn.softplus(fake_out)))
            ls = 0.5 * (tf.reduce_mean(tf.square(real_out - target))
                        + tf.reduce_mean(tf.square(fake_out)))
            if best:  # s["hinge"] 1.0: the hinge loss instead
                return ((1.0 - s["hinge"]) * ((1.0 - s["ls"]) * ns + s["ls"] * ls)
                        + s["hinge"] * hinge_d_loss(tf, real_out, fake_out))
            return (1.0 - s["ls"]) * ns + s["ls"] * ls

        def g_loss_of(s, fake_out):
            ns = tf.reduce_mean(tf.nn.softplus(-fake_out))  # non-saturating: -log D(G(z))
            ls = 0.5 * tf.reduce_mean(tf.square(fake_out - 1.0))
            if best:
                return ((1.0 - s["hinge"]) * ((1.0 - s["ls"]) * ns + s["ls"] * ls)
                        + s["hinge"] * hinge_g_loss(tf, fake_out))
            return (1.0 - s["ls"]) * ns + s["ls"] * ls

        def score(s, out):  # "D's belief that it is real", for the charts
            return tf.reduce_mean((1.0 - s["ls"]) * tf.sigmoid(out) + s["ls"] * out)

        def r1(s, x):
            return r1_penalty(tf, lambda v: D(s["d"], v, True), tf.reshape(x, [-1, packed]),
                              s["r1"])

        def ema_update(s):
            ema_step(tf, s["g_ema"], s["g"], s["ema"], s["ema_t"].assign_add(1.0))

        def adam(opt, variables, grads, beta_2=0.999, eps=1e-7):  # as keras.optimizers.Adam
            t = opt["t"].assign_add(1.0)
            alpha = opt["lr"] * tf.sqrt(1.0 - tf.pow(beta_2, t)) / (1.0 - tf.pow(0.5, t))
            for var, g, m, v in zip(variables, grads, opt["m"], opt["v"]):
                m.assign_add((g - m) * 0.5)
                v.assign_add((tf.square(g) - v) * (1.0 - beta_2))
                var.assign_sub(m * alpha / (tf.sqrt(v) + eps))

        @tf.function(jit_compile=jit)
        def run(s, n):
            out = tf.zeros([CHUNK, len(METRICS)])
            i = tf.constant(0)
            while i < n:  # autograph: an XLA while loop (tf.range needs a constant bound)
                d_loss = tf.constant(0.0)
                d_real = tf.constant(0.0)
                j = tf.constant(0)
                while j < s["d_steps"]:
                    j += 1
                    x = real_batch(s)
                    z = draw(s, "normal", [batch, latent])
                    with tf.GradientTape() as tape:
                        tape.watch(s["d"])
                        real_out = D(s["d"], x, True)
                        fake_out = D(s["d"], gen(s["g"], z, True), True)
                        d_loss = d_losses(s, real_out, fake_out)
                        if best:  # skipped at r1 = 0 (a second backward pass through D)
                            d_loss += tf.cond(s["r1"] > 0.0, lambda x=x: r1(s, x),
                                              lambda: tf.constant(0.0))
                    adam(s["opt_d"], s["d"], tape.gradient(d_loss, s["d"]))
                    d_real = score(s, real_out)
                z = draw(s, "normal", [batch, latent])
                with tf.GradientTape() as tape:
                    tape.watch(s["g"])
                    fake_out = D(s["d"], gen(s["g"], z, True), True)
                    g_loss = g_loss_of(s, fake_out)
                adam(s["opt_g"], s["g"], tape.gradient(g_loss, s["g"]))
                if best:
                    ema_update(s)
                row = tf.stack([d_loss, g_loss, d_real, score(s, fake_out)])
                out = tf.tensor_scatter_nd_update(out, [[i]], [row])
                i += 1
            return out

        self.run = run
        self.decode = tf.function(lambda g, z: gen(g, z, False), reduce_retracing=True)
        self.ready = threading.Event()  # set once a call has traced (and compiled) it


def compiled(preset: str, latent: int, output: str, pack: int, batch: int,
             jit: bool) -> Step:
    """The shared :class:`Step` for these settings (built on first use, thread-safe:
    two sessions asking at once build it once)."""
    key = (preset, latent, output, pack, batch, jit)
    with _compiled_lock:
        if key not in _compiled_cache:
            _compiled_cache[key] = (threading.Lock(), [])
        lock, box = _compiled_cache[key]
    with lock:
        if not box:
            box.append(Step(*key))
    return box[0]


_background: set = set()  # keys whose XLA compile runs in a background thread


def compile_in_background(key: tuple, state: dict) -> None:
    """Compile the XLA step of ``key`` in a daemon thread (once per key and process), with
    a zero-step call on ``state``'s shapes; trainers switch to it when it is ready."""
    with _compiled_lock:
        if key in _background:
            return
        _background.add(key)

    def work():
        import tensorflow as tf

        try:
            compiled(*key).run(state, tf.constant(0, tf.int32))
            compiled(*key).ready.set()
        except Exception:  # noqa: BLE001 -- the unjitted step goes on; a later call retries
            with _compiled_lock:
                _background.discard(key)

    threading.Thread(target=work, name="genlab-gan-xla", daemon=True).start()


