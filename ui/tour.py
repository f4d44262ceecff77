"""A guided tour through GenLab's ideas, step by step, beside the live widgets it talks about.

Inverse-transform sampling -> one Gaussian per class -> why samples blur -> latent space ->
adversarial training -> how to judge samples. Each :class:`Step` names its page, a short text,
the widget keys it talks about (outlined on the page) and the page's own link parameters it
sets on arrival (only parameters the page already reads). The step is in session state and
in the link: ``?tour=3`` opens step 3 on its page, ``?tour=0`` ends the tour. Back / Next
buttons and the left / right arrow keys (a components-v2 listener mounted in the page, not
while typing in a field) move through it; Next on a page's last step switches page.
:func:`ui.setup_page` calls :func:`show` before the page draws anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from ui import talk, url

STEP = "genlab_tour"  # session state: the current step number (1-based), absent when off
PENDING = "_genlab_tour_go"  # session state: go to the step's page and set its parameters
KEYS = "genlab_tour_keys"  # the arrow-key listener's widget key
HIGHLIGHT = "#f59e0b"  # amber: reads on the light and the dark theme


@dataclass(frozen=True)
class Step:
    """One stop of the tour.

    Attributes
    ----------
    page : the page's script, relative to the checkout (``pages/1_Gaussian_Explorer.py``)
    title : a few words
    text : 2-4 sentences of Markdown
    targets : keys of the widgets the text talks about (outlined on the page)
    params : link parameters the page reads, set when the tour arrives at this step
    """

    page: str
    title: str
    text: str
    targets: tuple[str, ...] = ()
    params: dict[str, str] = field(default_factory=dict)


GAUSSIAN = "pages/1_Gaussian_Explorer.py"
CLASSES = "pages/2_Class_Conditional_Sampling.py"
VAE = "pages/3_VAE_Latent_Space.py"
GAN = "pages/4_GAN_Live_Training.py"
COMPARE = "pages/5_Compare_Models.py"

STEPS: list[Step] = [
    Step(GAUSSIAN, "Data from a uniform z",
         "Pick a point $z$ between 0 and 1 and read it back through the cdf: "
         "$x = F^{-1}(z)$ is a sample of the distribution. Drawn uniformly, $z$ lands evenly "
         "on the cdf's axis, so $x$ lands most often where the cdf is steep, where the pdf is "
         "high. Move **Latent z** and watch $x$ follow.",
         ("g_z",), {"dist": "normal"}),
    Step(GAUSSIAN, "Many zs in, many data points out",
         "Push $n$ uniform $z$s through the ppf and the histogram of the $x$s takes the shape "
         "of the pdf, as numpy's own sampler's does. The Kolmogorov-Smirnov statistic is the "
         "largest gap between the sample's cdf and the true one. Press **Draw a new sample** "
         "for fresh draws.",
         ("g_n", "g_resample")),
    Step(CLASSES, "One Gaussian per class",
         "Learn a prior $p(y)$ from the label counts and one Gaussian $p(x \\mid y)$ per digit: "
         "its mean image and a 784 x 784 covariance. To generate, **pick $y$, then sample $x$** "
         "from that digit's Gaussian. Choose a digit and press **Resample**.",
         ("cc_digit", "cc_resample"), {"cc_cov": "full"}),
    Step(CLASSES, "Why samples blur",
         "The mean of a class is a blur: the average of thousands of digits written in "
         "different ways. A sample is that mean plus Gaussian noise; with the **Diagonal** "
         "covariance chosen here every pixel is drawn on its own, so strokes break into "
         "salt-and-pepper noise. Switch to **Full**: pixels vary together and strokes hold, "
         "but one Gaussian per class still cannot draw sharp, varied digits.",
         ("cc_cov",), {"cc_cov": "diag"}),
    Step(VAE, "A latent space",
         "A VAE's encoder maps each digit to a few numbers $z$; its decoder maps $z$ back to an "
         "image. Training pulls the codes towards the prior $N(0, I)$, so points near the "
         "origin decode to digit-like images. Jump to a digit's mean code, then move the "
         "sliders: the decoded digit changes smoothly.",
         ("vae_jump", "vae_main_digit"), {"model": "conv"}),
    Step(GAN, "Adversarial training",
         "A generator G turns noise $z$ into images; a discriminator D scores how real they "
         "look, and each learns against the other. Press **Reset** for random weights, then "
         "**Play**: noise turns into strokes, then digits. When D can no longer tell, its "
         "scores drift to 0.5.",
         ("gan_play", "gan_pause", "gan_step", "gan_reset"), {"preset": "mlp"}),
    Step(COMPARE, "How to judge samples",
         "A sample has no right answer to compare with, so a model is judged by many samples "
         "at once: are they digits (judge confidence), are all ten there (coverage), do they "
         "vary (diversity, recall), and are they new rather than copies of training digits "
         "(memorisation)? Press **Compute the scoreboard**: every model draws the same number "
         "of digits with the same seed.",
         ("cmp_go",)),
]

# ArrowLeft / ArrowRight anywhere on the page, except where the key means something already:
# typing in a field, a focused slider, radio group, tab list, select or menu. On a new step,
# the first widget it talks about is scrolled to the middle of a wide window (the card stays
# on top); on a phone the card, read first, stays in view.
KEYS_JS = """
export default function (component) {
  const { setTriggerValue, data } = component;
  const busy = 'input, textarea, select, [contenteditable=""], [contenteditable="true"], '
    + '[role="slider"], [role="textbox"], [role="combobox"], [role="listbox"], '
    + '[role="option"], [role="radiogroup"], [role="radio"], [role="tab"], [role="tablist"], '
    + '[role="spinbutton"], [role="menu"], [role="menuitem"]';
  const onKey = (e) => {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    if (e.defaultPrevented || e.repeat || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    const t = e.target;
    if (t && t.closest && (t.isContentEditable || t.closest(busy))) return;
    e.preventDefault();
    setTriggerValue("key", e.key === "ArrowRight" ? "next" : "back");
  };
  if (window.__genlabTourKeys) document.removeEventListener("keydown", window.__genlabTourKeys);
  window.__genlabTourKeys = onKey;
  document.addEventListener("keydown", onKey);
  if (data && window.__genlabTourStep !== data.step) {
    window.__genlabTourStep = data.step;
    let tries = 0;
    const look = () => {
      if (window.innerWidth < 900) return;
      const app = document.querySelector("[data-testid='stApp']");
      const el = (data.targets || []).map((k) => document.querySelector(".st-key-" + k))
        .find((e) => e && e.offsetParent !== null);
      const done = app && app.getAttribute("data-test-script-state") === "notRunning";
      if (el && done) {  // charts above it have their height by now; once more after late ones
        el.scrollIntoView({ block: "center" });
        setTimeout(() => el.scrollIntoView({ block: "center" }), 600);
      } else if (++tries < 60) setTimeout(look, 150);
    };
    setTimeout(look, 200);
  }
  return () => {
    document.removeEventListener("keydown", onKey);
    if (window.__genlabTourKeys === onKey) window.__genlabTourKeys = null;
  };
}
"""
_keys = st.components.v2.component("genlab_tour_keys", js=KEYS_JS)


# ----------------------------------------------------------------------------- state


def current() -> int | None:
    """The tour's step number (1-based), or None when no tour runs."""
    n = st.session_state.get(STEP)
    return n if isinstance(n, int) and 1 <= n <= len(STEPS) else None


def go(n: int) -> None:
    """Move the tour to step ``n`` (0 or past the end: stop); as a button callback."""
    if 1 <= n <= len(STEPS):
        st.session_state[STEP] = n
        st.session_state[PENDING] = True
        st.query_params["tour"] = str(n)
    else:
        stop()


def start() -> None:
    go(1)


def stop() -> None:
    st.session_state.pop(STEP, None)
    st.session_state.pop(PENDING, None)
    st.query_params.pop("tour", None)


def _on_key() -> None:
    value = (st.session_state.get(KEYS) or {}).get("key")
    n = current()
    if n is None or value not in ("next", "back"):
        return
    if value == "next" and n < len(STEPS):
        go(n + 1)
    elif value == "back" and n > 1:
        go(n - 1)


def current_page() -> str:
    """The running page as the tour names it (``app.py``, ``pages/2_X.py``)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return ""
    info = ctx.pages_manager.get_pages().get(ctx.page_script_hash, {})
    path = Path(info.get("script_path", ""))
    return f"pages/{path.name}" if path.parent.name == "pages" else path.name


def _arrive(step: Step, n: int, here: str) -> None:
    """Set the step's link parameters and go to its page (a rerun or a page switch)."""
    params = {**talk.link_params(), **step.params, "tour": str(n)}
    if step.page == here:
        if all(st.query_params.get(k) == v for k, v in step.params.items()):
            return
        for k, v in step.params.items():  # the page reads them anew: drop its widget's value
            st.session_state.pop(k, None)
            st.query_params[k] = v
        url._reseed()  # widgets bound to the URL seed from the values just set
        return
    st.switch_page(step.page, query_params=params)


def sync() -> int | None:
    """Read ``?tour=`` and any pending move; go to the step's page. Returns the step shown
    on this page (None when the tour is off or this page has none of its steps)."""
    ss = st.session_state
    link = url.guard({"tour": url.integer(0, len(STEPS))})
    if "tour" in link:
        n = int(link["tour"])
        if n == 0:
            stop()
        elif n != current() or not ss.get(STEP):
            ss[STEP] = n
            ss[PENDING] = True
    n = current()
    if n is None:
        return None
    here = current_page()
    if ss.pop(PENDING, False):
        _arrive(STEPS[n - 1], n, here)
    elif STEPS[n - 1].page != here:
        # the presenter went to another page by hand: the tour follows if that page has steps
        mine = [i for i, s in enumerate(STEPS, 1) if s.page == here]
        if not mine:
            return n
        n = ss[STEP] = mine[0]
    if st.query_params.get("tour") != str(n):
        st.query_params["tour"] = str(n)
    return n


# ----------------------------------------------------------------------------- drawing


def _background() -> str:
    """The page's background in the viewer's theme (the sticky card must not be see-through)."""
    kind = "dark" if st.context.theme.type == "dark" else "light"
    try:
        colour = st.get_option(f"theme.{kind}.backgroundColor")
    except Exception:  # an option Streamlit does not know: its default themes
        colour = None
    return colour or ("#0e1117" if kind == "dark" else "#ffffff")


def css(step: Step, background: str = "#ffffff") -> str:
    """Outline the widgets the step talks about; on a wide window keep the card in view."""
    # sticky on the card's layout wrapper: the card alone fills it and could not move
    rules = ["@media (min-width: 900px) and (min-height: 600px) { "
             "[data-testid='stLayoutWrapper']:has(> .st-key-genlab_tour_card) { "
             f"position: sticky; top: 3.75rem; z-index: 99; background: {background}; }} }}"]
    if step.targets:
        rules.append(", ".join(f".st-key-{k}" for k in step.targets)
                     + f" {{ outline: 3px solid {HIGHLIGHT}; outline-offset: 4px; "
                     "border-radius: 0.5rem; }")
    return "\n".join(rules)


def show() -> None:
    """The tour card for this page (nothing when the tour is off)."""
    n = sync()
    if n is None:
        return
    step, here, last = STEPS[n - 1], current_page(), n == len(STEPS)
    with st.container(border=True, key="genlab_tour_card"):
        if step.page != here:  # a page the tour does not visit: offer the way back
            st.markdown(f"**Guided tour**, step {n} of {len(STEPS)}: *{step.title}* "
                        "is on another page.")
            with st.container(horizontal=True):
                st.button("Continue the tour", key="tour_continue", on_click=go, args=(n,),
                          icon=":material/arrow_forward:", type="primary")
                st.button("End the tour", key="tour_end", on_click=stop,
                          icon=":material/close:")
            return
        st.html(f"<style>{css(step, _background())}</style>")
        st.markdown(f"**Guided tour · {n} of {len(STEPS)}: {step.title}**  \n{step.text}")
        # a horizontal container wraps on a phone instead of stacking full-width rows
        with st.container(horizontal=True, vertical_alignment="center"):
            st.button("Back", key="tour_back", on_click=go, args=(n - 1,), disabled=n == 1,
                      icon=":material/arrow_back:")
            st.button("Finish" if last else "Next", key="tour_next", on_click=go,
                      args=(n + 1,), type="primary",
                      icon=":material/check:" if last else ":material/arrow_forward:")
            st.button("End the tour", key="tour_end", on_click=stop, icon=":material/close:")
            st.caption("or the ← → keys")
            _keys(key=KEYS, data={"step": n, "targets": list(step.targets)}, width="content",
                  on_key_change=_on_key)
