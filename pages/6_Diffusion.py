"""Flow matching, the idea behind today's image generators: watch noise become a digit."""

import streamlit as st

import ui
from genlib import diffusion as df
from ui import diffusion_edit_view as edit
from ui import diffusion_knobs_view as knobs
from ui import diffusion_player as player
from ui import diffusion_training as training
from ui import diffusion_view as dv
from ui import evaluation, url

MODELS = {"latent": "Latent: an MLP over the VAE's codes", "pixel": "Pixels: a small U-Net"}
TABS = ["Reverse process", "Forward process", "Samples", "What the knobs do", "Your digit",
        "Interpolation", "VAE prior vs learned prior", "Training"]
mnist = ui.setup_page("Diffusion", ":material/blur_on:")
st.html(dv.NARROW_CSS)
st.title("Diffusion: from noise to a digit, step by step")
with st.container(key="df_intro"):  # (on a phone, below the pictures)
    # the model: the latent preset (default) or the pixel-space U-Net, when its weights ship
    choices = [p for p in MODELS if df.shipped_path(p).exists()]
    st.session_state.setdefault("df_model", url.guard({"df_model": url.choice(choices)})
                                .get("df_model", "latent"))
    PRESET = st.segmented_control("Model", choices, format_func=MODELS.get, required=True,
                                  key="df_model") if len(choices) > 1 else "latent"
    url.follow("df_model", PRESET, "latent")
    st.markdown(
        "Blend a digit with noise along a straight line, $x_t = (1-t)\\,x_0 + t\\,\\varepsilon$, "
        "and teach a network the direction back, the **velocity** $v = \\varepsilon - x_0$ "
        "(*flow matching*). To draw a digit, start from pure noise at $t = 1$ and follow the "
        "network's velocity to $t = 0$. " + (
            "As in Stable Diffusion, this model works in the **latent space of an "
            "autoencoder** (the convolutional VAE's 16-D codes) and the VAE's decoder paints "
            "the result." if PRESET == "latent" else
            "This model works on the **pixels** themselves: a small U-Net (2 x 2 patches, "
            "14 x 14 then 7 x 7 feature maps) predicts the velocity of all 784 pixels at "
            "once; slower per step than the latent MLP, and it needs no autoencoder."))
if PRESET != "latent":  # the VAE's prior has no meaning for a model of pixels
    TABS = [t for t in TABS if t != "VAE prior vs learned prior"]
    if st.session_state.get("df_tab") not in (None, *TABS):
        st.session_state.pop("df_tab")
        st.query_params.pop("df_tab", None)

source = dv.model_source(PRESET, bool(st.session_state.get("df_mine")))
try:
    model = dv.load_model(*source)
except ValueError as error:  # a damaged or mismatched checkpoint: say which and why
    if source[1] is None:
        st.error(f"The diffusion model cannot be loaded: {ui.plain(error)}",
                 icon=":material/broken_image:")
        st.stop()
    st.error(f"Your trained weights cannot be used ({ui.plain(error)}); sampling with the "
             "shipped model instead.", icon=":material/broken_image:")
    st.session_state["df_mine"] = False
    source = dv.model_source(PRESET, False)
    model = dv.load_model(*source)
if source[1] is not None:
    st.caption(f"Sampling with your trained weights ({ui.plain(source[1])}, step "
               f"{model.manifest.get('step', '?')}); switch back on the Training tab.")
with st.container(border=True, key="df_controls"):
    s = dv.controls_ui(model, TABS)
tabs = dict(zip(TABS, st.tabs(TABS, key="df_tab", on_change="rerun", bind="query-params")))

with tabs["Reverse process"]:
    if tabs["Reverse process"].open:
        with st.container(key="df_phone_hint"):
            st.caption("Digit, guidance, steps, sampler and seed: below the pictures.")
        player.reverse_ui(source, s)

with tabs["Forward process"]:
    if tabs["Forward process"].open:
        dv.forward_ui(source, model, mnist, s)

with tabs["Samples"]:
    if tabs["Samples"].open:
        images, labels = dv.sample_grid(source, s)
        rows = "one row per digit" if labels is not None else "unconditional"
        ui.show_grid(images, dv.GRID_COLS, key="df_grid", scale=3,
                     caption=f"{len(images)} samples, {rows}: guidance {s.guidance:g}, "
                             f"{s.steps} steps, {s.sampler} sampler, seed {s.seed}")
        evaluation.quality_panel(images, mnist, key="df_quality", labels=labels)

with tabs["What the knobs do"]:
    if tabs["What the knobs do"].open:
        knobs.knobs_ui(source, model, mnist, s)

with tabs["Your digit"]:
    if tabs["Your digit"].open:
        edit.sdedit_ui(source, mnist, s)

with tabs["Interpolation"]:
    if tabs["Interpolation"].open:
        edit.interpolation_ui(source, s)

if "VAE prior vs learned prior" in tabs:
    with tabs["VAE prior vs learned prior"]:
        if tabs["VAE prior vs learned prior"].open:
            dv.prior_ui(source, mnist, s)

with tabs["Training"]:
    if tabs["Training"].open:
        training.training_ui(PRESET, mnist)
