"""GenLab home: what a generative model is, and a map of the pages."""

import numpy as np
import streamlit as st

import ui
from ui import home_figures, inline_image

mnist = ui.setup_page("Home", ":material/home:")


@st.cache_data(max_entries=2)
def figure_png(name: str) -> bytes:
    import io

    import matplotlib.pyplot as plt

    fig = getattr(home_figures, name)()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


st.title("GenLab: how generative models learn to make digits")
st.markdown(
    "A **generative model** learns the distribution of the data, $p(x)$, or of each class, "
    "$p(x \\mid y)$, from examples, and then **samples** new data from it. A "
    "**discriminative** model learns only $p(y \\mid x)$: it can tell a 3 from an 8, "
    "but it cannot draw either."
)
inline_image.image(figure_png("generative_vs_discriminative"), width="content")

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("The data")
    st.markdown(
        f"Every page learns from handwritten digits: each one a point $x$ in "
        f"$[0, 1]^{{784}}$ (28 x 28 pixels). In use now: **{mnist.source}**."
    )
    rng = np.random.default_rng(0)
    # two of each class the data has (a user's file may lack a digit or hold one of it)
    idx = [np.flatnonzero(mnist.train.labels == k) for k in range(10)]
    rows = [rng.choice(i, min(2, len(i)), replace=False) for i in idx]
    present = [k for k in range(10) if len(rows[k])]
    pick = [r[i] for i in range(2) for r in rows if len(r) > i]
    ui.show_grid(mnist.train.images[pick], len(present), key="home_digits",
                 caption="Real training digits, up to two of each class", download=False)
    if len(present) < 10:
        missing = ", ".join(str(k) for k in range(10) if k not in present)
        st.caption(f"This dataset has no training examples of digit(s) {missing}.")
    st.markdown(
        "- **Generation is stochastic.** A model defines a distribution, so each draw gives a "
        "different digit; a seed makes a draw repeatable.\n"
        "- **A latent space** is a small space of hidden causes $z$ (for a VAE or a GAN, a "
        "few numbers) that a network maps to images: move $z$ and the digit changes smoothly.\n"
        "- **Samples are hard to evaluate.** There is no single right answer to compare with. "
        "A good sample lies on the data's support, is not a copy of a training point, and "
        "differs from one draw to the next."
    )
with right:
    inline_image.image(figure_png("good_samples"), width="content")

st.subheader("The pages")
from ui import talk, tour  # noqa: E402 (the tour and talk mode belong to this section)

st.button("Take the guided tour", key="tour_start", on_click=tour.start, type="primary",
          icon=":material/tour:", disabled=tour.current() is not None,
          help=f"{len(tour.STEPS)} steps through the pages, from a uniform z to judging "
               "samples: Back / Next or the arrow keys. Add ?talk=1 to the address for a "
               "projector.")
for path in ui.page_files():
    st.page_link(str(path.relative_to(ui.ROOT)), label=f"**{ui.page_title(path)}**: "
                 f"{ui.page_summary(path)}", query_params=talk.link_params() or None)
if not ui.page_files():
    st.info("The model pages are on their way.")
