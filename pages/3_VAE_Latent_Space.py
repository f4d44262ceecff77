"""Steer a variational autoencoder's latent code with sliders and watch the digit change."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import streamlit as st

import ui
from genlib import vae, vae_train
from ui import drawing_pad, evaluation, inline_image, url, vae_explorer, warmup
from ui.vae_explorer import SPAN, STEP

mnist = ui.setup_page("VAE Latent Space", ":material/tune:")
MODELS = {"tutorial": "Tutorial: dense, 4-D latent",
          "tutorial-small-kl": f"Tutorial with its tiny KL weight ({vae.TUTORIAL_BETA:g})",
          "conv": "Convolutional (better)",
          "conv_best": "Best: wider convolutional, learned prior"}
DIGITS = list(range(10))
# On a narrow screen Streamlit stacks columns in order: put the decoded digit first there.
# The digit chooser wraps instead of scrolling, and Random / Reset share one row.
NARROW_CSS = """<style>@media (max-width: 640px) {
  [data-testid="stHorizontalBlock"]:has(.st-key-vae_main_digit) { flex-direction: column; }
  [data-testid="stColumn"]:has(.st-key-vae_main_digit) { order: -1; }
  .st-key-vae_jump [data-testid="stButtonGroup"] > div:last-child {
    flex-wrap: wrap; max-width: 100%; overflow: hidden; }
  .st-key-vae_jump [data-testid="stButtonGroup"] > div:last-child > * {
    flex: 1 1 18%; min-width: 0; }
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] .st-key-vae_random) {
    flex-flow: row wrap; }
  [data-testid="stColumn"]:has(.st-key-vae_random),
  [data-testid="stColumn"]:has(.st-key-vae_reset) {
    flex: 1 1 40% !important; min-width: 0 !important; width: auto !important; }
  [data-testid="stColumn"]:has(.st-key-vae_jump) { flex: 1 1 100% !important; }
}</style>"""


@st.cache_data(max_entries=16, show_spinner="Sampling the learned prior...")
def learned_prior_samples(seed: int) -> tuple[np.ndarray, bytes]:
    """100 digits from the latent flow-matching prior over the shipped conv VAE's codes, and
    their 10 x 10 grid PNG (raises ValueError if its weights are missing or damaged)."""
    from genlib import diffusion, images

    x = diffusion.DiffusionModel.load_pretrained("latent").sample(
        100, rng=seed, digit="all").images
    return x, images.to_png(images.tile(x, 10), scale=3)


@st.cache_resource(max_entries=8, show_spinner=False)
def load(name: str, mine: bool, stamp: int, shipped: str) -> vae.VAE:
    """``shipped`` (the shipped file's path) only keys the cache: a different file, a new load."""
    return vae.load_model(name, path=vae.user_weights_path(name) if mine else None)


def loads(name: str) -> bool:
    """Whether the shipped weights of ``name`` load (a damaged file does not)."""
    try:
        load(name, False, 0, str(vae.shipped_path(name)))
    except ValueError:
        return False
    return True


# One cached object per (model, dataset) makes and keeps every picture (ui.vae_explorer):
# the page asks for them by small keys, so a rerun hashes no arrays, copies nothing, and a
# slider move only computes what it changed.
@st.cache_resource(max_entries=6, show_spinner="Encoding the digits...")
def explorer_for(key: tuple, data_key: str, _mnist) -> vae_explorer.Explorer:
    """Encodes up to 10,000 training and 2,000 held-out digits (seconds on full MNIST)."""
    return vae_explorer.Explorer(load(*key), _mnist)


def arrow_chart(ex: vae_explorer.Explorer, key: tuple, spec_columns: tuple) -> tuple:
    """A chart's (spec, columns) with the columns as an Arrow table, converted once per key."""
    spec, columns = spec_columns
    return spec, ex.memo(("arrow",) + key, lambda: pa.table(columns))


def show_png(png: bytes, key: str, caption: str | None = None, width="content") -> None:
    """ui.show_grid for a grid already encoded (cached): the image and its download button."""
    inline_image.image(png, caption=caption, width=width)
    st.download_button("Download PNG", png, file_name=f"{key}.png", mime="image/png",
                       key=f"{key}_png", on_click="ignore", icon=":material/download:")


def model_ui() -> tuple:
    names = list(MODELS)
    trained = st.session_state.pop("vae_trained", None)
    if trained:  # a model retrained on the last run: show it (before its widgets exist)
        st.session_state["vae_model"] = trained
        st.session_state[f"vae_mine_{trained}"] = True
    link = url.guard({"model": url.choice(names)})
    # the default goes through session state only: a default index beside a value set in
    # session state made Streamlit warn (with a stack trace) in the terminal
    st.session_state.setdefault("vae_model", link.get("model", "conv"))
    left, mid, right = st.columns([2, 1, 2], vertical_alignment="bottom")
    name = left.selectbox("Model", names, format_func=MODELS.get, key="vae_model")
    url.follow("model", name, None)
    user_file = vae.user_weights_path(name)
    mine = user_file.exists() and mid.toggle("My retrained weights", key=f"vae_mine_{name}")
    stamp = user_file.stat().st_mtime_ns if mine else 0
    return name, mine, stamp, right


def damaged_ui(name: str, error: ValueError) -> None:
    """The model's file cannot be read: say which file and why, and what still works."""
    others = [f"“{MODELS[n]}”" for n in MODELS if n != name and loads(n)]
    rest = (f"The other models still work: choose {' or '.join(others)} in *Model* above. "
            if others else "")
    st.error(f"**{MODELS[name]}** cannot be shown: its weights file is damaged or unreadable."
             f"\n\n`{error}`\n\n{rest}Or retrain it below: new weights go to your cache "
             "folder and the damaged file is left as it is.", icon=":material/broken_image:")


def jump_to_class(name: str, means) -> None:
    """The digit control acts as ten buttons: apply the choice, then clear it."""
    k = st.session_state.get("vae_jump")
    if k is not None:
        set_z(name, means[k])
        st.session_state["vae_jump"] = None


def set_z(name: str, values) -> None:
    for i, v in enumerate(np.clip(np.nan_to_num(values), -SPAN, SPAN)):
        st.session_state[f"vae_z_{name}_{i}"] = round(float(v), 2)


def your_code(ex: vae_explorer.Explorer) -> tuple | None:
    """The drawing or upload of *Your digit* encoded: (mean code, PNG over its reconstruction).

    A new one is put on the sliders at once, before they are drawn (it then steers like any
    code); the same one on a later run leaves the sliders where the user moved them.
    """
    choice = drawing_pad.peek("vae")
    if choice.digit is None:
        return None
    mean, png = ex.encode_digit(choice.token, choice.digit)
    if st.session_state.get("vae_drawn") != choice.token:
        st.session_state["vae_drawn"] = choice.token
        set_z(name, mean)
    return mean, png


def retrain_ui() -> None:
    st.subheader("Retrain on the data in use")
    # the preset sits outside the form so that the latent size is disabled at once for the
    # tutorial preset, whose latent size is fixed at 4
    # touching the preset starts loading TensorFlow in the background (the page itself only
    # decodes with numpy and never waits for it)
    preset = st.columns(4)[0].selectbox("Preset", ["tutorial", "conv"], key="vae_t_preset",
                                        on_change=warmup.start)
    with st.form("vae_train_form", border=True):
        b, c, e = st.columns(3)
        latent = b.slider("Latent size", *vae.LATENT_RANGE, 8, key="vae_t_latent",
                          disabled=preset != "conv",
                          help="The convolutional preset only; the tutorial's latent is 4-D.")
        tiny = c.radio("KL weight", ["1 (the true ELBO)", f"{vae.TUTORIAL_BETA:g} (tutorial)"],
                       key="vae_t_beta").startswith("1 ") is False
        epochs = e.number_input("Epochs", 1, 200, 20 if preset == "tutorial" else 10,
                                key="vae_t_epochs")
        go = st.form_submit_button("Train", icon=":material/model_training:", type="primary",
                                   key="vae_t_go")
    st.caption(f"Saved to {vae.user_weights_path(name).parent} (the shipped weights are never "
               "replaced). The tutorial preset takes ~0.3 s per epoch on the 5,000-digit "
               "sample, the convolutional one ~3 s.")
    if st.session_state.get("vae_cancel"):
        st.info("Training cancelled; nothing was saved.", icon=":material/cancel:")
    if not go:
        return
    target = "tutorial-small-kl" if preset == "tutorial" and tiny else preset
    st.button("Cancel training", key="vae_cancel", icon=":material/cancel:")
    bar = st.progress(0.0, text="Loading TensorFlow...")
    warmup.start()
    while not warmup.wait(0.25) and "could not" not in warmup.status():
        bar.progress(0.0, text=warmup.status())  # the first training on this server waits here

    def report(p: dict) -> None:
        done = ((p["epoch"] - 1) * p["steps"] + p["step"]) / (p["epochs"] * p["steps"])
        bar.progress(min(done, 1.0), text=f"Epoch {p['epoch']}/{p['epochs']}: loss "
                     f"{p['loss']:.1f} = recon {p['recon']:.1f} + {p['beta']:g} × KL {p['kl']:.1f}")

    with ui.user_errors("Training failed: "):
        new = vae_train.train(mnist, preset, epochs,
                              latent_dim=latent if preset == "conv" else None,
                              beta=vae.TUTORIAL_BETA if tiny else 1.0, callback=report)
        new.save(vae.user_weights_path(target))
        st.session_state["vae_trained"] = target
        st.rerun()


st.title("VAE latent space: steer the code, watch the digit")
st.html(NARROW_CSS)
name, mine, stamp, info = model_ui()
key = (name, mine, stamp, str(vae.shipped_path(name)))
try:
    model = load(*key)
except ValueError as error:  # a damaged or unreadable file: the rest of the page still works
    damaged_ui(name, error)
    retrain_ui()
    st.stop()
if model.warning:
    st.warning(model.warning, icon=":material/warning:")
ex = explorer_for(key, evaluation.dataset_key(mnist), mnist)
yours = your_code(ex)
d, means, order = model.latent_dim, ex.means, ex.order
elbo = model.manifest.get("test_negative_elbo")
info.markdown(f"**{model.describe()}**  \nheld-out −ELBO: **{elbo:.1f} nats** "
              f"({model.manifest.get('epochs', '?')} epochs)" if elbo else model.describe())

explore, latent_map, recon_tab, samples_tab, upload_tab, training_tab = st.tabs(
    ["Explore", "Encoded digits", "Reconstruct & interpolate", "Samples from the prior",
     "Your digit", "Training"])


def slider(i: int) -> float:
    st.session_state.setdefault(f"vae_z_{name}_{i}", 0.0)
    value = st.slider(f"z{i + 1}", -SPAN, SPAN, step=STEP, key=f"vae_z_{name}_{i}")
    inline_image.image(ex.strips[i], width="stretch")
    return value


@st.fragment
def explorer() -> None:
    """Sliders, the decoded digit and the latent grid: a slider move reruns only this."""
    # one segmented control, not ten buttons: on a phone ten columns stacked into ten
    # full-width rows above the digit; the control wraps onto a line or two instead
    jump, rand, reset = st.columns([6, 1.2, 1.1], vertical_alignment="bottom")
    jump.segmented_control("Jump to a digit's mean code", DIGITS, key="vae_jump",
                           on_change=jump_to_class, args=(name, means), width="stretch",
                           help="Sets the sliders to the mean encoding of that digit's "
                                "training examples")
    rand.button("Random", key="vae_random", help=f"Draw z from the prior, {model.prior.name}",
                icon=":material/casino:", width="stretch",
                on_click=lambda: set_z(name, model.sample_latent(1)[0]))
    reset.button("Reset", key="vae_reset", on_click=set_z, args=(name, np.zeros(d)),
                 icon=":material/restart_alt:", width="stretch")
    sliders, digit, grid = st.columns([2.6, 2.6, 3], gap="large")
    z = np.zeros(d, np.float32)
    inner = sliders.columns(2 if len(ex.active) > 4 else 1)
    for n, i in enumerate(ex.active):
        with inner[n % len(inner)]:
            z[i] = slider(i)
    if ex.unused:
        with sliders.expander(f"{len(ex.unused)} unused dimensions"):
            st.caption("The encoder keeps these at the prior for every digit (their KL is ~0): "
                       "the decoder learnt to ignore them.")
            for i in ex.unused:
                z[i] = slider(i)
    sliders.caption(f"Sliders in order of how much the training digits spread along each "
                    f"dimension (z{order[0] + 1} the most): the first ones change the digit "
                    "most. Shading under a slider: where the training digits are encoded "
                    "along it. Each spans ±3 prior standard deviations.")
    with digit, st.container(key="vae_main_digit"):
        ui.show_grid(model.decode(z), 1, key="vae_digit", scale=12,
                     caption="The decoder's image of z (its pixel means)")
    with grid:
        a, b = st.columns(2)
        label = lambda k: f"z{k + 1}"  # noqa: E731
        i = a.selectbox("Across", order, format_func=label, key=f"vae_gx_{name}")
        j = b.selectbox("Up", order, index=1, format_func=label, key=f"vae_gy_{name}")
        with ui.user_errors():
            inline_image.image(ex.grid_png((i, j), z),
                               width="stretch",
                     caption=f"Decoded over z{i + 1} × z{j + 1} in [−3, 3], the other "
                             "dimensions at the sliders; red: the current point")


with explore:
    if ex.outside > 0.2 and model.beta < 1:  # only the small KL weight explains it
        st.info(f"{ex.outside:.0%} of the training digits are encoded outside the sliders' "
                "±3 range: with a small KL weight nothing pulls the codes towards the prior "
                "N(0, I), so the places the prior samples from decode to blurs "
                "(see *Samples from the prior*).", icon=":material/info:")
    explorer()

with latent_map:
    a, b, _ = st.columns([1, 1, 3])
    i = a.selectbox("Horizontal", order, format_func=lambda k: f"z{k + 1}", key=f"vae_sx_{name}")
    j = b.selectbox("Vertical", order, index=1, format_func=lambda k: f"z{k + 1}",
                    key=f"vae_sy_{name}")
    spec, table = arrow_chart(ex, ("scatter", i, j), ex.scatter_chart((i, j)))
    if yours is not None:
        spec = vae_explorer.with_point(spec, yours[0], (i, j))
    st.vega_lite_chart(table, spec, width="stretch", key="vae_scatter")
    st.caption(f"Mean encodings of {len(ex.test_z):,} held-out digits, coloured by their true "
               "class. The VAE never saw the labels: the classes cluster on their own."
               + (" Black diamond: your digit (*Your digit*)." if yours is not None else ""))

with recon_tab:
    seed = st.columns(5)[0].number_input("Seed", 0, 10_000, 0, key="vae_recon_seed")
    with ui.user_errors():
        show_png(ex.reconstructions_png(seed), key="vae_recon",
                 caption="Top: held-out digits. Bottom: decoded from their mean encoding.")
    st.subheader("Interpolation")
    a, b, c = st.columns(3)
    start = a.selectbox("From class", range(10), index=1, key="vae_from")
    end = b.selectbox("To class", range(10), index=7, key="vae_to")
    use = c.radio("Endpoints", ["class means", "one held-out digit of each"], key="vae_ends")
    with ui.user_errors():
        show_png(ex.interpolation_png(start, end, use, seed), key="vae_interp",
                 caption=f"A straight line in latent space from a {start} to a {end}")

with samples_tab:
    seed = st.columns(5)[0].number_input("Seed", 0, 1_000_000, 0, key="vae_sample_seed")
    if model.beta < 1:
        st.info(f"This model was trained with a KL weight of {model.beta:g}: its encoder put the "
                "digits far from where the prior N(0, I) puts its mass, so most prior samples "
                "decode to blurs. Compare with the other models.", icon=":material/info:")
    learned, drawn, png = False, None, None
    if name == "conv" and not mine:  # the latent flow was trained on the shipped conv codes
        learned = st.radio(
            "Prior", [False, True], horizontal=True, key="vae_prior",
            format_func=lambda v: ("learned: latent flow matching" if v
                                   else "N(0, I): the VAE's own"),
            help="The VAE samples z from N(0, I), which also covers the holes between its "
                 "digits' codes. A flow trained on the codes of the training digits (the "
                 "Diffusion page's latent preset) samples where the codes are.")
    if learned:
        with ui.user_errors("The learned prior is unavailable: "):
            drawn, png = learned_prior_samples(seed)
            inline_image.image(png, caption=f"100 codes from the learned prior (seed {seed}, "
                               "digits drawn uniformly, 20 Euler steps), decoded by the same "
                               "decoder")
            st.caption("Same decoder, another prior: compare *How good are these samples?* "
                       "with N(0, I)'s. The VAE's own prior puts mass where no digit's code "
                       "is, and those codes decode to blends.")
    else:
        prior = "model"
        if model.learned_prior is not None:  # both priors, one decoder: the lesson
            prior = st.radio(
                "Prior", ["model", "standard"], horizontal=True, key="vae_own_prior",
                format_func=lambda v: (model.prior.name.capitalize() if v == "model"
                                       else "N(0, I): the classic VAE's"),
                help="This VAE learned its prior with its encoder and decoder, inside the "
                     "ELBO: Gaussians where the digits' codes are. N(0, I) also covers the "
                     "holes between them, which decode to blends.")
        drawn, png = ex.samples(seed, prior)
        what = ("codes z from the learned prior" if prior == "model" and model.learned_prior
                else "draws z ~ N(0, I)")
        inline_image.image(png, caption=f"100 {what} with seed {seed}, decoded")
    if drawn is not None:
        st.download_button("Download PNG", png, file_name="vae_samples.png", mime="image/png",
                           key="vae_samples_png", on_click="ignore",
                           icon=":material/download:")
        evaluation.quality_panel(drawn, mnist, key="vae_quality")

with upload_tab:
    drawing_pad.digit_input("vae", judge_kind=mnist.kind)
    if yours is not None:
        mean, png = yours
        a, b = st.columns([1, 2], gap="large")
        with a:
            show_png(png, key="vae_yours", caption="As MNIST (top), reconstructed")
            st.dataframe(pd.DataFrame({"dimension": [f"z{k + 1}" for k in range(d)],
                                       "encoded": mean.round(2)}), hide_index=True)
            st.button("Put it on the sliders", key="vae_use_upload", on_click=set_z,
                      args=(name, mean), icon=":material/tune:",
                      help="Again, after you moved them: a new drawing goes there by itself")
        with b:
            i, j = order[0], order[1]
            spec, table = arrow_chart(ex, ("scatter", i, j), ex.scatter_chart((i, j)))
            st.vega_lite_chart(table, vae_explorer.with_point(spec, mean, (i, j)) | {
                "height": 360}, width="stretch", key="vae_yours_scatter")
            st.caption(f"Black diamond: your digit's code among {len(ex.test_z):,} held-out "
                       f"digits (z{i + 1} × z{j + 1}, the two dimensions that vary most).")
        st.success("Each new drawing or upload goes on the sliders in *Explore*: steer it "
                   "from there.",
                   icon=":material/tune:")

with training_tab:
    if model.history:
        spec, table = arrow_chart(ex, ("history",), ex.history_chart())
        st.vega_lite_chart(table, spec, width="stretch", key="vae_history")
        st.caption("Per epoch, in nats per digit (log scale): reconstruction = cross-entropy of "
                   f"the reconstructions, KL = KL(q(z|x) ‖ p(z)), p = {model.prior.name}; their "
                   "sum is the negative "
                   "ELBO. Dashed: the same on held-out digits.")
    m = model.manifest
    st.markdown(f"Trained on **{m.get('data_source') or 'unknown data'}** for {m.get('epochs')} "
                f"epochs (seed {m.get('seed')}, {m.get('train_seconds', m.get('seconds', '?'))} s, "
                f"{m.get('date')}).")
    a, b, _ = st.columns([1, 1, 3])
    a.download_button("Weights (.npz)", ex.weights_file(),
                      file_name=model.path.name, key="vae_dl_npz", on_click="ignore",
                      icon=":material/download:")
    b.download_button("Manifest (.json)", ex.memo(("manifest",), lambda: json.dumps(m, indent=1)),
                      key="vae_dl_json",
                      file_name=model.path.with_suffix(".json").name, on_click="ignore",
                      icon=":material/download:")
    retrain_ui()
