"""One Gaussian per digit class: pick a digit, sample new ones, and classify by Bayes' rule."""

import numpy as np
import streamlit as st

import ui
from genlib import gaussian as gg
from ui import drawing_pad, evaluation, url, your_digit

mnist = ui.setup_page("Class-Conditional Sampling", ":material/category:")
ss = st.session_state
DIGITS = list(range(10))
RIDGES = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
MIXTURE_CAP = 300  # digits per class for EM: a full-covariance mixture in 784-D is slow
COVARIANCES = {"full": "Full", "diag": "Diagonal", "pca": "PCA (rank k)"}
WHAT_IT_DOES = {
    "full": "Full: pixels vary together, so strokes stay connected; rare pixels still add grain.",
    "diag": "Diagonal (naive Bayes): every pixel on its own, so samples are salt-and-pepper noise.",
    "pca": "PCA: only the k main ways a class varies, plus faint noise everywhere: smooth strokes.",
}


@st.cache_resource(max_entries=6, show_spinner="Fitting the class-conditional model...")
def fit_model(_mnist, data_key, covariance, reg, rank, n_components, drop_digit, drop_share):
    """The fitted model for these settings (read-only after fit, so sessions share it)."""
    y = _mnist.train.labels
    keep = gg.drop_class_share(y, drop_digit, drop_share)
    if n_components > 1:
        keep = keep[gg.cap_per_class(y[keep], MIXTURE_CAP)]
        model = gg.ClassConditionalMixture(n_components, covariance, reg)
    else:
        model = gg.ClassConditionalGaussian(covariance, reg, rank if covariance == "pca" else None)
    return model.fit(_mnist.train.images[keep], y[keep])


@st.cache_data(max_entries=6, show_spinner="Classifying the held-out digits...")
def evaluate(_model, _mnist, model_key) -> gg.ClassifierReport:
    return gg.evaluate_classifier(_model, _mnist.test.images, _mnist.test.labels)


def ridge_label(r: float) -> str:
    return f"{r:.0e}"


def resample() -> None:
    ss.cc_draw = ss.get("cc_draw", 0) + 1


def model_ui() -> tuple[str, float, int, int]:
    """Covariance model, ridge, PCA rank and mixture components, one line on what each does."""
    c1, c2, c3, c4 = st.columns([3, 2, 2, 2], gap="medium")
    # bound by hand: Streamlit's binding would put the label ("PCA (rank k)") in the URL
    cov = c1.radio("Covariance of each class", list(COVARIANCES), format_func=COVARIANCES.get,
                   horizontal=True, key="cc_cov")
    url.follow("cc_cov", cov, "full")
    c1.caption(WHAT_IT_DOES[cov])
    rank = c2.slider("PCA rank k", 1, 100, 20, key="cc_rank", disabled=cov != "pca",
                     bind="query-params")
    c2.caption("More directions: more detail, and more of each digit's quirks.")
    reg = c3.select_slider("Ridge (added to every variance)", RIDGES, value=1e-3,
                           format_func=ridge_label, key="cc_reg", bind="query-params")
    c3.caption(f"Pixels that never vary get noise of std {np.sqrt(reg):.3f}: big = grainy "
               "border, small = an overconfident classifier.")
    n_comp = c4.slider("Mixture components per class", 1, 4, 1, key="cc_components",
                       disabled=cov == "pca", bind="query-params")
    c4.caption("Each component is one writing style: less blur than one Gaussian per class."
               if cov != "pca" else "Mixtures use the full or diagonal covariance.")
    return cov, reg, rank, (1 if cov == "pca" else n_comp)


def imbalance_ui() -> tuple[int, float]:
    c1, c2 = st.columns(2)
    digit = c1.selectbox("Make this digit rare", DIGITS, key="cc_drop_digit")
    share = c2.slider("Share of its training digits to drop (%)", 0, 99, 0, key="cc_drop_share")
    return digit, share / 100


# Charts as Vega-Lite specs (dicts): st.bar_chart and Altair validate their specs against the
# JSON schema on every rerun, which cost ~40 ms of each Resample; the charts are the same.
PRIOR_SERIES = {"p(y), learned": "#1f4e9c", "labels drawn from it": "#8fb3e8",
                "labels drawn uniformly": "#b0b0b0"}


def prior_chart(columns: dict[str, np.ndarray], y_title: str) -> dict:
    """Grouped bars per digit, one bar per series (what st.bar_chart(stack=False) draws)."""
    values = [{"digit": k, "series": name, "value": float(v[k])}
              for k in DIGITS for name, v in columns.items()]
    names = list(columns)
    return {
        "data": {"values": values},
        "mark": {"type": "bar"},
        "height": 380,
        "encoding": {
            "x": {"field": "digit", "type": "ordinal", "title": "digit",
                  "axis": {"grid": False, "labelAngle": 0}},
            "xOffset": {"field": "series", "sort": names},
            "y": {"field": "value", "type": "quantitative", "title": y_title,
                  "axis": {"grid": True}},
            "color": {"field": "series", "type": "nominal", "title": " ", "sort": names,
                      "scale": {"domain": names, "range": [PRIOR_SERIES[n] for n in names]},
                      "legend": {"orient": "bottom", "titlePadding": 5, "offset": 5}},
            "tooltip": [{"field": "digit", "type": "ordinal"},
                        {"field": "series", "type": "nominal"},
                        {"field": "value", "type": "quantitative", "format": ".3f"}],
        },
    }


def confusion_chart(confusion: np.ndarray) -> dict:
    """The confusion matrix as a heatmap with the count in each cell."""
    values = [{"true": t, "predicted": p, "count": int(confusion[t, p])}
              for t in DIGITS for p in DIGITS]
    xy = {"x": {"field": "predicted", "type": "ordinal", "title": "predicted digit",
                "axis": {"labelAngle": 0}},
          "y": {"field": "true", "type": "ordinal", "title": "true digit"}}
    white_above = float(confusion.max()) / 2
    return {
        "title": "Confusion matrix: rows are the true digits",
        "data": {"values": values},
        "layer": [
            {"mark": {"type": "rect"},
             "encoding": {**xy, "color": {"field": "count", "type": "quantitative",
                                          "scale": {"scheme": "blues", "type": "sqrt"},
                                          "legend": None}}},
            {"mark": {"type": "text", "fontSize": 14},
             "encoding": {**xy, "text": {"field": "count", "type": "quantitative"},
                          "color": {"condition": {"test": f"datum.count > {white_above}",
                                                  "value": "white"},
                                    "value": "black"}}},
        ],
    }


def labels_text(labels, n_cols: int) -> str:
    rows = np.asarray(labels).reshape(-1, n_cols)
    return "  \n".join("Labels: " + " ".join(map(str, r)) for r in rows)


st.title("Class-conditional sampling")
link = url.guard({"cc_cov": url.choice(list(COVARIANCES)), "cc_rank": url.integer(1, 100),
                  "cc_reg": url.choice(RIDGES, ridge_label), "cc_components": url.integer(1, 4),
                  "cc_digit": url.choice(DIGITS), "cc_seed": url.integer(0, 2**31 - 1)})
if "cc_cov" in link and "cc_cov" not in ss:
    ss.cc_cov = link["cc_cov"]
st.markdown("Learn a prior $p(y)$ from label counts and a Gaussian $p(x \\mid y)$ per digit; "
            "then **pick $y$, sample $x$**. The same model, by Bayes' rule, is a classifier.")
with st.container(border=True):
    cov, reg, rank, n_comp = model_ui()
tabs = st.tabs(["Pick a digit", "All classes", "Prior and imbalance", "As a classifier",
                "Training digits", "Your digit"])
with tabs[2]:
    st.markdown("**The class-imbalance lesson.** Drop most of one digit's training examples "
                "and refit: the learned prior $p(y)$ and the sampled labels follow.")
    drop_digit, drop_share = imbalance_ui()
with tabs[0]:
    c1, c2, c3 = st.columns([5, 2, 1], vertical_alignment="bottom")
    digit = c1.segmented_control("Digit", DIGITS, default=3, required=True, key="cc_digit",
                                 bind="query-params")
    seed = c2.number_input("Seed", 0, 2**31 - 1, 0, key="cc_seed", bind="query-params")
    c3.button("Resample", key="cc_resample", on_click=resample, icon=":material/casino:",
              type="primary")

model = None
data_key = (mnist.source, len(mnist.train))
with ui.user_errors("Could not fit this model: "):
    model = fit_model(mnist, data_key, cov, reg, rank, n_comp, drop_digit, drop_share)
if model is not None and not np.array_equal(model.classes_, DIGITS):
    st.error("This page needs training digits of every class 0-9; drop a smaller share.")
    model = None
if model is None:
    st.stop()
is_mixture = isinstance(model, gg.ClassConditionalMixture)
rng = np.random.default_rng([seed, ss.get("cc_draw", 0)])  # a seed repeats, Resample is new

with tabs[0]:
    left, right = st.columns([1, 4])
    with left:
        ui.show_grid(model.means_[digit][None], key=f"mean_{digit}", scale=6,
                     caption=f"Mean of the {digit}s")
    with right:
        if is_mixture:
            images, comps = model.sample_given_y(digit, 8, rng, return_components=True)
            means = model.component_means_[digit][comps]
            ui.show_grid(np.concatenate([images, means]), 8, key=f"samples_{digit}",
                         caption="Top: fresh samples. Below each: the mean of the component "
                                 f"it came from (components {', '.join(map(str, comps))})")
        else:
            ui.show_grid(model.sample_given_y(digit, 8, rng), 8, key=f"samples_{digit}",
                         caption=f"Fresh samples of p(x | y = {digit})")
    st.caption("A sample is the mean plus correlated Gaussian noise, clipped to [0, 1]: "
               "the mean is blurry, samples are grainy. Resample for new draws; a seed repeats.")

with tabs[1]:
    left, right = st.columns(2, gap="large")
    with left:
        grid = np.concatenate([model.means_[:, None], np.stack(
            [model.sample_given_y(k, 5, rng) for k in model.classes_])], axis=1)
        ui.show_grid(grid.reshape(-1, 28, 28), 6, key="all_classes", scale=3,
                     caption="One row per class: the mean, then five samples")
    with right:
        images, labels = model.sample(40, rng)
        order = np.argsort(labels, kind="stable")
        ui.show_grid(images[order], 10, key="from_prior", scale=3,
                     caption="40 samples, the class of each drawn from p(y) (sorted by class)")
        st.caption(labels_text(labels[order], 10))
    evaluation.quality_panel(images[order], mnist, key="cc_quality", labels=labels[order])

with tabs[2]:
    n_draw = 1000
    learned = np.bincount(model.sample_labels(n_draw, rng), minlength=10) / n_draw
    uniform = np.bincount(model.sample_labels(n_draw, rng, prior="uniform"), minlength=10) / n_draw
    st.vega_lite_chart(prior_chart({"p(y), learned": model.class_prior_,
                                    "labels drawn from it": learned,
                                    "labels drawn uniformly": uniform},
                                   f"probability / share of {n_draw:,}"), width="stretch")
    k = int(np.flatnonzero(model.classes_ == drop_digit)[0])
    st.markdown(f"The model saw **{model.class_count_[k]:,}** {drop_digit}s of "
                f"{model.class_count_.sum():,} digits: $p(y = {drop_digit}) = "
                f"{model.class_prior_[k]:.3f}$, and **{learned[drop_digit]:.1%}** of samples "
                f"drawn with it are {drop_digit}s ({uniform[drop_digit]:.1%} with a uniform "
                "prior). The classifier, too, now calls fewer digits a "
                f"{drop_digit}: see *As a classifier*.")

with tabs[3]:
    report = None
    with ui.user_errors("Could not evaluate the model: "):
        report = evaluate(model, mnist, (data_key, cov, reg, rank, n_comp, drop_digit, drop_share))
    if report is not None:
        left, right = st.columns([3, 2], gap="large")
        with left:
            st.metric("Held-out accuracy", f"{report.accuracy:.1%}",
                      help=f"{len(report.predictions):,} test digits, predicted by "
                           "argmax log p(x | y) + log p(y)")
            st.vega_lite_chart(confusion_chart(report.confusion), width="stretch",
                               height=420)
        with right:
            t = st.selectbox("Most and least typical test digits of class", DIGITS,
                             key="cc_typical")
            rows = np.flatnonzero(mnist.test.labels == t)
            ll = report.log_likelihood[rows, t]
            order = rows[np.argsort(-ll)]
            ui.show_grid(mnist.test.images[order[:8]], 8, key=f"typical_{t}", scale=3,
                         caption=f"Highest log p(x | y = {t}): {ll.max():,.0f} ...")
            ui.show_grid(mnist.test.images[order[::-1][:8]], 8, key=f"atypical_{t}",
                         scale=3, caption=f"Lowest: ... {ll.min():,.0f}")

with tabs[4]:
    pick = rng.choice(len(mnist.train), 40, replace=False)
    ui.show_grid(mnist.train.images[pick], 10, key="training", scale=3,
                 caption="40 random training digits: compare with the samples")
    st.caption(labels_text(mnist.train.labels[pick], 10))


@st.fragment
def yours() -> None:
    """The pad and the verdict: a stroke reruns only this."""
    digit = drawing_pad.digit_input("cc", judge_kind=mnist.kind)
    if digit is not None:
        your_digit.bayes_verdict_ui(model, digit, *(
            (report.log_likelihood, mnist.test.labels) if report is not None else (None, None)))


with tabs[5]:
    st.markdown("**Your own digit, classified by the generative model.** Draw a digit (or "
                "upload a picture): the model scores it under every class's Gaussian, "
                "$\\log p(x \\mid y)$, and Bayes' rule turns those into $p(y \\mid x)$.")
    yours()
