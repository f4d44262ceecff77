"""One scoreboard for every model: the same held-out digits, the same judge, the same seed."""

import altair as alt
import pandas as pd
import streamlit as st

import ui
from genlib import scoreboard as sb
from ui import evaluation as ev
from ui import url

mnist = ui.setup_page("Compare Models", ":material/leaderboard:")
ss = st.session_state
N_CHOICES = [100, 250, 500, 1000, 2000]
CHART_METRICS = {  # column -> (axis title, better)
    "frechet": ("Frechet distance to real digits", "lower is better"),
    "coverage": ("Coverage: % of real digits with a sample nearby", "higher is better"),
    "density": ("Density (1 = as crowded as real digits)", "near 1 is best"),
    "recall": ("Recall: % of real digits inside the samples' reach", "higher is better"),
    "coverage_entropy": ("Digit coverage, nats (ln 10 = 2.30 is perfect)", "higher is better"),
    "confidence": ("Judge confidence, %", "higher is better"),
    "memorisation_ratio": ("Memorisation ratio (1 = new digits, 0 = copies)", "near 1 is best"),
}
FAMILY_COLORS = {"reference": "#6b7280", "Gaussian": "#1f4e9c", "VAE": "#2a9d8f",
                 "GAN": "#d1495b"}


@st.cache_resource(max_entries=16, show_spinner=False)
def fitted_model(name: str, version: str, data_key: str, _mnist):
    """One row's model, fitted or loaded once per dataset and weights version (read-only)."""
    return sb.load_model(name, _mnist)


@st.cache_data(max_entries=256, show_spinner=False)
def score_row(name: str, version: str, data_key: str, kind: str, n: int, seed: int,
              likelihood: bool, _mnist) -> dict:
    """One scoreboard row, cached per model version, dataset, n, seed."""
    judge, _ = ev.load_judge(kind)
    reference = ev.load_reference(data_key, kind, _mnist)
    model = fitted_model(name, version, data_key, _mnist)
    return sb.score_model(name, model, reference, judge, n, seed, likelihood)


def controls_ui(available: list[str]) -> tuple[list[str], int, int, bool, bool]:
    """Models, samples per model, seed, likelihoods on/off, and the compute button."""
    names = st.multiselect("Models", available, default=available, key="cmp_models")
    c2, c3, c4, c5 = st.columns([3, 2, 2, 3], gap="large", vertical_alignment="bottom")
    n = c2.select_slider("Samples per model", N_CHOICES, value=1000, key="cmp_n",
                         bind="query-params")
    seed = c3.number_input("Seed", 0, 2**31 - 1, 0, step=1, key="cmp_seed",
                           bind="query-params")
    lik = c4.toggle("Likelihoods", value=True, key="cmp_lik",
                    help="Held-out log-likelihood where a model has one (the slow part).")
    go = c5.button("Compute the scoreboard", type="primary", key="cmp_go",
                   icon=":material/play_arrow:")
    return names, int(n), int(seed), bool(lik), go


@st.cache_data(max_entries=8, show_spinner=False)
def shipped_rows(data_key: str, n: int, seed: int, lik: bool, _mnist) -> dict:
    """The rows shipped with GenLab that still hold here (same data, settings, model versions)."""
    try:
        return sb.load_table(_mnist, n, seed, lik)
    except ValueError as e:  # a damaged table: compute instead, and say so
        st.warning(f"The shipped scoreboard cannot be read ({ui.plain(e)}); computing instead.",
                   icon=":material/warning:")
        return {}


def compute(names: list[str], n: int, seed: int, lik: bool) -> list[dict]:
    """Rows for ``names``: the shipped ones as they are, the others scored (with progress)."""
    data_key = ev.dataset_key(mnist)
    ready = shipped_rows(data_key, n, seed, lik, mnist)
    todo = [name for name in names if name not in ready]
    bar = st.progress(0.0, text="Preparing the real held-out digits...") if todo else None
    if todo:
        ev.load_reference(data_key, mnist.kind, mnist)
    rows = []
    for name in names:
        if name in ready:
            rows.append(ready[name])
            continue
        i = todo.index(name)
        bar.progress(i / len(todo), text=f"Scoring {name} ({i + 1} of {len(todo)})...")
        try:
            rows.append(score_row(name, sb.model_version(name), data_key, mnist.kind, n, seed,
                                  lik, mnist))
        except ValueError as e:
            st.warning(f"{name}: could not be scored ({ui.plain(e)})", icon=":material/warning:")
    if bar is not None:
        bar.empty()
    return rows


QUALITY = ["model", "coverage_entropy", "class_consistency", "frechet", "confidence", "coverage",
           "density", "recall", "diversity", "memorisation_ratio"]
LIKELIHOOD = ["model", "nll_nats", "nll_bits_per_pixel", "neg_elbo_nats", "likelihood_kind"]
PERCENT = ("class_consistency", "confidence", "recall", "coverage")
LIKELIHOOD_FAMILIES = {  # the two kinds of NLL must not be read as one scale
    "Gaussian": "Gaussians: an exact *continuous* density of pixel values. A density can exceed "
                "1, so the NLL can be negative; compare Gaussians with Gaussians only.",
    "VAE": "VAEs: an upper bound on the NLL of *Bernoulli* pixels (probabilities, at most 1), "
           "so always positive; not on the Gaussians' scale.",
}


def table(rows: list[dict], keys: list[str]) -> pd.DataFrame:
    df = pd.DataFrame([{k: r.get(k) for k in keys} for r in rows])
    for k in PERCENT:
        if k in df:
            df[k] = 100 * df[k].astype(float)
    return df


def show_table(df: pd.DataFrame) -> None:
    """Every row visible (no inner scroll); a dash where a figure does not apply."""
    text = ("model", "likelihood_kind", "flags")
    st.dataframe(df, hide_index=True, width="stretch", height="content", placeholder="–",
                 column_config={
        k: st.column_config.Column(sb.COLUMNS[k][0], help=sb.COLUMNS[k][1]) if k in text
        else st.column_config.NumberColumn(sb.COLUMNS[k][0], help=sb.COLUMNS[k][1],
                                           format="%.1f%%" if k in PERCENT else "%.2f")
        for k in df.columns})


def chart_ui(df: pd.DataFrame, families: dict) -> None:
    options = [c for c in CHART_METRICS if c in df]
    metric = st.segmented_control("Chart", options, default=options[0], key="cmp_chart",
                                  format_func=lambda c: sb.COLUMNS[c][0]) or options[0]
    title, better = CHART_METRICS[metric]
    data = df[["model", metric]].dropna().assign(family=df["model"].map(families))
    bars = alt.Chart(data).mark_bar().encode(
        x=alt.X(f"{metric}:Q", title=f"{title} ({better})"),
        y=alt.Y("model:N", sort=None, title=None, axis=alt.Axis(labelLimit=360)),
        color=alt.Color("family:N", title="Family",
                        scale=alt.Scale(domain=list(FAMILY_COLORS),
                                        range=list(FAMILY_COLORS.values()))),
        tooltip=["model", alt.Tooltip(f"{metric}:Q", format=".3f")],
    )
    # no colours fixed here: the theme's text colour keeps labels readable, light or dark
    labels = bars.mark_text(align="left", dx=4, fontSize=15).encode(
        text=alt.Text(f"{metric}:Q", format=".0f" if metric in PERCENT else ".2f"))
    st.altair_chart((bars + labels).properties(height=max(180, 46 * len(data) + 60)).configure_axis(
        labelFontSize=16, titleFontSize=16).configure_legend(labelFontSize=15, titleFontSize=15),
        width="stretch")


st.title("Compare models: how good are the samples?")
st.markdown(
    "Every model draws the same number of digits with the same seed; a small CNN (the "
    "**judge**, never trained on the held-out digits) labels them, and every figure is "
    "measured against the **same held-out real digits**. The *real held-out digits* row is the "
    "best any model can do; *class means* (ten mean images, repeated) shows zero variety. "
    "Variety is read from **coverage** and **density** (Naeem et al. 2020), which pixel noise "
    "cannot fake; the nearest-neighbour *spread* is kept for reference, and noise inflates it.")

try:
    ev.load_judge(mnist.kind)
    judge_problem = None
except ValueError as e:  # a damaged judge: say which file; the shipped table still shows
    judge_problem = str(e)
    st.error(f"The judge cannot be loaded, so new rows cannot be scored: {ui.plain(e)}. "
             "Rows shipped with GenLab are still shown. Restore the file (git checkout "
             "genlib/weights) or retrain it with `python -m genlib.train classifier`.",
             icon=":material/broken_image:")
available = sb.available_models(mnist.kind)
if mnist.kind != "sample":
    st.info("The shipped VAE and GAN weights were trained on the embedded sample, so they are "
            "left out on this dataset; the Gaussians are refitted on it.",
            icon=":material/info:")
url.guard({"cmp_n": url.choice(N_CHOICES), "cmp_seed": url.integer(0, 2**31 - 1)})
names, n, seed, lik, go = controls_ui(available)
params = (ev.dataset_key(mnist), tuple(names), n, seed, lik)

if go:
    if not names:
        st.warning("Pick at least one model.", icon=":material/warning:")
    else:
        ss.cmp_result = (params, compute(names, n, seed, lik))
        ss.cmp_shipped = False
elif "cmp_result" not in ss and names:
    ready = shipped_rows(params[0], n, seed, lik, mnist)
    if all(name in ready for name in names):  # the table shipped with GenLab: no wait at all
        ss.cmp_result = (params, [ready[name] for name in names])
        ss.cmp_shipped = True

result = ss.get("cmp_result")
if result is None:
    st.info("Press **Compute the scoreboard**. Rows shipped with GenLab for the embedded "
            "sample appear at once; other rows are fitted and sampled (under a minute), then "
            "come from the cache.", icon=":material/hourglass_empty:")
elif result[1]:
    shown, rows = result
    if shown != params:
        st.caption("Showing the last scoreboard; the settings above have changed since. "
                   "Press the button to update it.")
    df = table(rows, QUALITY)
    if ss.get("cmp_shipped") and shown == params:
        st.caption("Computed by `python -m genlib.scoreboard` and shipped with GenLab (same "
                   "models, data and settings as here); change a setting and press the button "
                   "to recompute what changed.")
    show_table(df)
    n_real = next((r["samples_drawn"] for r in rows if r["model"] == sb.REFERENCE_ROWS[0]), 0)
    st.caption(f"Every model drew {shown[2]:,} samples"
               + (f" (the real row: the {n_real:,} held-out digits outside the reference half)"
                  if n_real else "")
               + f". Frechet distance, coverage, density, recall and spread use "
               f"{rows[0]['n_compare']:,} "
               "samples in every row, so they compare at the same size.")
    flagged = [f"- **{r['model']}**: {r['flags']}" for r in rows if r["flags"]]
    if flagged:
        st.warning("**Warnings**\n" + "\n".join(flagged), icon=":material/warning:")
    st.caption("A dash: the figure does not apply (class consistency needs a model that is "
               "asked for a digit).")
    with_nll = [r for r in rows if r.get("nll_nats") is not None]
    if with_nll:
        st.markdown("**Held-out likelihood** (the same held-out digits; lower is better, "
                    "**within a family only**)")
    for family, what in LIKELIHOOD_FAMILIES.items():
        group = [r for r in with_nll if r["family"] == family]
        if group:
            st.caption(what)
            show_table(table(group, LIKELIHOOD))
    st.download_button("Download the scoreboard (CSV)", sb.to_csv(rows),
                       file_name="genlab_scoreboard.csv", mime="text/csv", key="cmp_csv",
                       on_click="ignore", icon=":material/download:")
    chart_ui(df, {r["model"]: r["family"] for r in rows})
    with st.expander("The samples behind the numbers", icon=":material/grid_view:"):
        for i, r in enumerate(rows):
            st.markdown(f"**{r['model']}**")
            ui.show_grid(r["samples"][:12], 12, key=f"cmp_samples_{i}", scale=3, download=False)
    with st.expander("What the columns mean", icon=":material/help:"):
        st.markdown("\n".join(f"- **{h}**: {m}" for k, (h, m) in sb.COLUMNS.items()
                              if m and k != "model"))
        st.markdown(
            "Likelihoods compare only within a family: the Gaussians' figure is an exact "
            "*continuous density* (it can exceed 1, so the NLL can be negative), the VAE's an "
            "upper bound on a Bernoulli likelihood of pixel intensities. GANs have none.")
        if judge_problem is None:
            judge, judge_file = ev.load_judge(mnist.kind)
            acc = ("" if judge.accuracy is None
                   else f", {judge.accuracy:.1%} right on held-out digits")
            st.caption(f"Judge: {judge_file}{acc} (trained on: "
                       f"{judge.manifest.get('data_source', 'unknown')}).")
