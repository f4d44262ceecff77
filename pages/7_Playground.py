"""2-D playground: every model family on points you can see, and the world map's A / B / C."""

import numpy as np
import streamlit as st

import ui
from genlib import playground_abc as abc
from genlib import playground_data as pdata
from genlib import playground_models as pm
from genlib.playground_train import DEFAULT_LR, LEARNING_RATES
from ui import playground_panel as panel
from ui import url

ui.setup_page("Playground", ":material/public:", dataset=False)
S = st.session_state
NS = [200, 500, 1000, 2000, 5000, 10000, 20000]
NOISES = [0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]
HELD = [0.1, 0.2, 0.3, 0.4, 0.5]
LR_LABEL = "{:g}".format


def data_ui() -> tuple:
    """The sidebar's data choice; returns the dataset key (what every cache is keyed by)."""
    options = list(pdata.DATASETS) + (["upload"] if "pg_upload" in S else [])
    if S.get("pg_data") not in options:
        S.pg_data = "world"
    labels = {**pdata.DATASETS, "upload": "Your points (CSV)"}
    with st.sidebar:
        st.subheader("Data")
        name = st.selectbox("Dataset", options, format_func=labels.get, key="pg_data")
        url.follow("pg_data", name if name != "upload" else "world", "world")
        n = st.select_slider("Points (n)", NS, 10000, key="pg_n", bind="query-params",
                             format_func="{:,}".format, disabled=name == "upload")
        noise = st.select_slider("Noise (std)", NOISES, 0.1, key="pg_noise",
                                 bind="query-params", disabled=name in ("world", "upload"),
                                 help="The toys' Gaussian blur; the world map's points are "
                                      "uniform on land.")
        held = st.select_slider("Held-out share", HELD, 0.3, key="pg_held",
                                bind="query-params", format_func="{:.0%}".format)
        seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="pg_seed", bind="query-params")
        error = S.get("pg_upload_error")
        with st.expander("Use your own points (CSV of x, y)", expanded=bool(error)):
            st.file_uploader("CSV: two columns x, y; a header line is optional", type=["csv",
                             "txt"], key="pg_csv", on_change=panel.on_upload,
                             help=f"Up to {pdata.MAX_POINTS:,} points.")
            if error:
                st.error(f"Could not use that file: {ui.plain(error)}", icon=":material/error:")
    if name == "upload":
        file, digest, _ = S.pg_upload
        return ("upload", file, digest, float(held), int(seed))
    return (name, int(n), float(noise), float(held), int(seed))


def model_ui(slot: str, default: str) -> dict:
    """One panel's model and its one knob; returns the choice as a dict."""
    sfx = "" if slot == "a" else "_b"
    c1, c2 = st.columns([1, 1], vertical_alignment="bottom")
    S.setdefault(f"pg_model{sfx}", default)
    model = c1.selectbox("Model", list(pm.MODELS), format_func=pm.MODELS.get,
                         key=f"pg_model{sfx}")
    url.follow(f"pg_model{sfx}", model, default)
    choice = {"model": model, "slot": slot}
    if model == "gmm":
        choice["k"] = c2.slider("Components k", 1, 100, 30, key=f"pg_k{sfx}",
                                bind="query-params")
    elif model == "kde":
        choice["bw"] = c2.select_slider(
            "Bandwidth (x the data's spread)", pm.KDE_BANDWIDTHS, 0.02, key=f"pg_bw{sfx}",
            bind="query-params", help="Tiny: every sample sits on a training point (copies).")
    elif model in pm.NEURAL:
        choice["lr"] = c2.select_slider("Learning rate", LEARNING_RATES, DEFAULT_LR[model],
                                        key=f"pg_lr{sfx}", format_func=LR_LABEL)
    else:
        c2.caption("No knob: the mean and covariance of the training points.")
    return choice


link = url.guard({
    "pg_data": url.choice(list(pdata.DATASETS)), "pg_n": url.choice(NS, "{:,}".format),
    "pg_noise": url.choice(NOISES), "pg_held": url.choice(HELD, "{:.0%}".format),
    "pg_seed": url.integer(0, 2**31 - 1), "pg_model": url.choice(list(pm.MODELS)),
    "pg_model_b": url.choice(list(pm.MODELS)), "pg_k": url.integer(1, 100),
    "pg_k_b": url.integer(1, 100), "pg_bw": url.choice(pm.KDE_BANDWIDTHS),
    "pg_bw_b": url.choice(pm.KDE_BANDWIDTHS), "pg_side": url.choice(["true", "false"])})
for key in ("pg_data", "pg_model", "pg_model_b"):  # bound by hand (keys, not labels, in links)
    if key in link and key not in S:
        S[key] = link[key]

st.title("2-D playground")
st.markdown(
    "Every family on the same points, where you can **see** what a model learned. Each "
    "sample is coloured by what it is: :red[**A**, off the data's support] (in the ocean, "
    "for the world map), :orange[**B**, a copy] (closer to a training point than 95% of "
    "held-out real points are) or :green[**C**, good]: a new point where real data lives.")
data_key = data_ui()
try:
    points = panel.dataset(data_key)
except ValueError as e:
    st.error(f"Could not make this dataset: {ui.plain(e)}", icon=":material/error:")
    st.stop()
st.caption(f"**{ui.plain(points.source)}**: {len(points.train):,} training points (grey) and "
           f"{len(points.held_out):,} held out; "
           + ("support estimated from your points (99% of held-out points lie on it)."
              if points.name == "upload" else "support known exactly (shaded)."))

st.html(panel.NARROW_CSS)
side = st.toggle("Side by side: two models on the same data and seed", key="pg_side",
                 bind="query-params")
slots = [("a", "kde"), ("b", "gaussian")] if side else [("a", "kde")]
columns = st.columns(len(slots), gap="large")
rows = {}
for (slot, default), col in zip(slots, columns):
    with col, st.container(border=True, key=f"pg_panel_{slot}"):
        choice = model_ui(slot, default)
        rows[slot] = panel.show(choice, data_key, points)

st.subheader("A / B / C for every model on these points")
table = panel.abc_table(data_key, points, rows)
st.dataframe(table, hide_index=True, width="stretch", key="pg_table",
             column_config={k: st.column_config.ProgressColumn(k, format="percent",
                                                              min_value=0, max_value=1)
                            for k in ("A: off-support", "B: copy", "C: good")})
st.caption(f"{panel.N_SAMPLES:,} samples per model; a copy is closer to a training point "
           f"than {abc.COPY_QUANTILE:.0%} of held-out real points are. Neural models appear "
           "once trained in a panel above and paused (while playing, a panel shows its own "
           "shares live).")
best = max(table, key=lambda r: r["C: good"])
st.markdown(f"**Verdict.** {ui.plain(best['Verdict'])}")
if np.isfinite(best["C: good"]) and best["C: good"] < 0.85:
    st.caption("No model here reaches 85% good samples yet: try a larger n, another "
               "bandwidth, or train a neural model.")
