"""Flow matching, the idea behind today's image generators: watch noise become a digit."""

import numpy as np
import streamlit as st

import ui
from genlib import images as gim
from ui import charts, evaluation
from ui import diffusion_view as dv

PRESET = "latent"
mnist = ui.setup_page("Diffusion", ":material/blur_on:")
st.title("Diffusion: from noise to a digit, step by step")
st.markdown(
    "Blend a digit with noise along a straight line, $x_t = (1-t)\\,x_0 + t\\,\\varepsilon$, and "
    "teach a network the direction back, the **velocity** $v = \\varepsilon - x_0$ (*flow "
    "matching*). To draw a digit, start from pure noise at $t = 1$ and follow the network's "
    "velocity to $t = 0$. As in Stable Diffusion, this model works in the **latent space of an "
    "autoencoder** (the convolutional VAE's 16-D codes) and the VAE's decoder paints the result.")

try:
    model = dv.load_model(PRESET)
except ValueError as error:  # a damaged or mismatched checkpoint: say which and why
    st.error(f"The diffusion model cannot be loaded: {ui.plain(error)}",
             icon=":material/broken_image:")
    st.stop()
with st.container(border=True):
    s = dv.controls_ui(model)
reverse, forward, grid_tab, prior_tab = st.tabs(
    ["Reverse process", "Forward process", "Samples", "VAE prior vs learned prior"])


@st.fragment
def scrubber(view: dv.TrajectoryView) -> None:
    """The step slider: a move reruns only this and looks up cached pictures."""
    n = view.steps
    if st.session_state.get("df_scrub", n) > n:
        st.session_state["df_scrub"] = n
    k = st.slider("Step", 0, n, n, key="df_scrub",
                  help="Scrub through the sampler's steps: 0 is the starting noise")
    t = float(view.traj.times[k])
    left, right = st.columns([1, 1.4], gap="large")
    left.image(view.step_png(k), output_format="PNG",
               caption=f"Step {k}/{n}, t = {t:.2f}. Left: x_t decoded. Right: the model's "
                       "guess of the clean digit, x̂₀ = x_t − t·v")
    with right:
        st.markdown("**The whole run** (the lit frame is the step above)")
        st.image(view.strip_png(k), output_format="PNG", width="stretch",
                 caption="Top: x_t from t = 1 (left) to t = 0. Bottom: the guess at each step.")


with reverse:
    what = "unconditional" if s.digit is None else f"a {s.digit}"
    st.markdown(f"One sample ({what}, seed {s.seed}): the same starting noise is denoised "
                f"in {s.steps} step{'s' * (s.steps != 1)}. Early guesses are a blurry average "
                "of all the digits the noise could become; each step commits to more detail.")
    scrubber(dv.trajectory_view(PRESET, s))
    st.caption("Euler steps follow the velocity field deterministically (DDIM is the same "
               "step); the stochastic sampler re-draws part of the noise at each step, as "
               "DDPM does. DDPM's network predicts the noise ε instead of v: on this straight "
               "path x̂₀ = (x_t − t ε)/(1 − t) divides by ~0 near pure noise, v divides by "
               "nothing, which is why flow matching samples well in few steps.")

with forward:
    a, b, c = st.columns([1, 1, 3])
    digit = a.selectbox("Real digit", range(10), index=3, key="df_fwd_digit")
    which = b.number_input("Which one", 0, 999, 0, key="df_fwd_which")
    t = c.slider("Time t", 0.0, 1.0, 0.5, step=0.01, key="df_fwd_t",
                 help="0: the digit, 1: pure noise")
    with ui.user_errors():
        image = dv.real_digit(mnist, evaluation.dataset_key(mnist), digit, which)
        latent, pixel = dv.forward_pictures(model, image, t, s.seed)
        p1, p2, p3, m = st.columns([1, 1, 1, 1.3])
        p1.image(gim.to_png(image, scale=6), caption="x₀, a held-out digit")
        p2.image(gim.to_png(latent, scale=6), caption=f"Latent x_t at t = {t:.2f}, decoded")
        p3.image(gim.to_png(pixel, scale=6), caption=f"Pixel-space x_t at t = {t:.2f}")
        m.metric("Signal share 1 − t", f"{1 - t:.0%}")
        m.metric("Noise share t", f"{t:.0%}")
        snr = np.inf if t == 0 else ((1 - t) / t) ** 2
        m.metric("Signal-to-noise ((1 − t)/t)²", "∞" if t == 0 else f"{snr:.3g}")
        st.image(dv.forward_strip_png(PRESET, image, s.seed), output_format="PNG",
                 caption="t = 0, 0.1, ..., 1. Top: noise added to the 16-D code, decoded by the "
                         "VAE (noisy codes still decode to smooth blobs). Bottom: noise added "
                         "to the pixels, for intuition (what a pixel-space model sees).")
    c1, c2 = st.columns(2)
    c1.vega_lite_chart(charts.diffusion_schedule_chart(t), width="stretch", key="df_sched")
    c2.vega_lite_chart(charts.diffusion_snr_chart(t), width="stretch", key="df_snr")

with grid_tab:
    images, labels = dv.sample_grid(PRESET, s)
    rows = "one row per digit" if labels is not None else "unconditional"
    ui.show_grid(images, dv.GRID_COLS, key="df_grid", scale=3,
                 caption=f"{len(images)} samples, {rows}: guidance {s.guidance:g}, "
                         f"{s.steps} steps, {s.sampler} sampler, seed {s.seed}")
    evaluation.quality_panel(images, mnist, key="df_quality", labels=labels)

with prior_tab:
    st.markdown(
        "A VAE samples by decoding $z \\sim \\mathcal{N}(0, I)$. But its encoder does not fill "
        "that Gaussian: the training digits' codes leave **holes**, and prior draws that land "
        "there decode to blends of digits. Flow matching over the codes learns where the codes "
        "really are: a **learned prior** for the same decoder (here unconditional).")
    p = dv.priors(PRESET, s.seed)
    left, right = st.columns(2)
    for col, name, key, caption in (
            (left, "vae_images", "df_vae_prior", "The VAE's prior: z ~ N(0, I), decoded"),
            (right, "flow_images", "df_flow_prior",
             "The learned prior: z from the flow (guidance 0), same decoder")):
        with col:
            ui.show_grid(p[name], 10, key=key, scale=3, caption=caption)
            try:
                r = evaluation.figures(p[name], mnist)
            except ValueError as e:  # e.g. too few held-out digits to judge against
                st.info(f"Cannot judge these samples on this dataset: {ui.plain(e)}",
                        icon=":material/info:")
                continue
            a, b = st.columns(2)
            a.metric("Judge confidence", f"{r['confidence']:.0%}",
                     help="The judge CNN's mean top probability: ~98% on real digits, lower "
                          "on blends it cannot place")
            b.metric("Digit coverage", f"{r['entropy']:.2f} nats",
                     help="Entropy of the judged digits; ln 10 = 2.30: every digit equally")
    codes = dv.training_codes(PRESET, mnist, evaluation.dataset_key(mnist))
    dims = dv.busiest_dims(codes)
    st.vega_lite_chart(charts.diffusion_prior_chart(
        {"training digits' codes": codes[:300], "N(0, I) draws": p["z_vae"],
         "learned prior draws": p["z_flow"]}, dims), width="stretch", key="df_prior_chart")
    st.caption(f"The two latent dimensions along which the training codes spread most "
               f"(z{dims[0] + 1}, z{dims[1] + 1}). The Compare page scores both on 1,000 "
               "samples (Frechet distance: lower is better).")
