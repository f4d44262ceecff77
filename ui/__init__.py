"""Shared Streamlit pieces for GenLab's pages: page setup, the dataset sidebar, image grids.

genlib never calls Streamlit; this module is the thin layer every page shares.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

import genlib
from genlib import data_files
from genlib import images as gim
from genlib.data import available_sources
from ui import inline_image

log = logging.getLogger("genlab")
# TensorFlow's start-up chatter (oneDNN notices, CPU feature lines) is not for a presenter's
# terminal; its errors still print. Set before any page can import it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]  # the checkout: app.py and pages/ live here
SOURCE_KEY = "genlab_source"  # persists across pages (widget keys are dropped on page switch)
UPLOAD_KEY = "genlab_upload"  # (file name, bytes) of the last valid upload
PAGE_ICONS = {
    "1_Gaussian_Explorer": ":material/ssid_chart:",
    "2_Class_Conditional_Sampling": ":material/category:",
    "3_VAE_Latent_Space": ":material/tune:",
    "4_GAN_Live_Training": ":material/sports_esports:",
    "5_Compare_Models": ":material/leaderboard:",
    "6_Diffusion": ":material/blur_on:",
    "7_Playground": ":material/public:",
}
SOURCE_LABELS = {
    "auto": "Best available",
    "sample": "Embedded sample (5,000 digits)",
    "keras": "Keras' full MNIST (70,000 digits)",
    "upload": "Uploaded file",
}


# ----------------------------------------------------------------------------- page setup


def _close_matplotlib_figures() -> None:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


def keep_keras_session() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every run.

    After each script and fragment run, Streamlit's ``_clean_problem_modules`` clears Keras'
    session once keras is imported: two full ``gc.collect()`` passes (with the one
    ``runner.postScriptGC`` adds, off in config.toml) and a TensorFlow kernel-cache flush,
    under the GIL. On the GAN page it ran 2.5 times a second while the training thread used
    Keras: training got 47 steps/s instead of ~210. GenLab keeps its Keras models in session
    state and needs no reset, so only Streamlit's other cleanup (closing pyplot figures) stays.
    """
    from streamlit.runtime.scriptrunner import script_runner

    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = _close_matplotlib_figures


keep_keras_session()


def setup_page(title: str, icon: str = ":material/scatter_plot:",
               dataset: bool = True) -> genlib.MNIST | None:
    """Configure the page (wide, titled), draw the navigation and the dataset sidebar.

    Talk mode (``?talk=1``) starts with the sidebar collapsed and large type; ``?hide=``
    hides chosen controls; a guided tour (``?tour=N``) shows its card above the page.
    Returns the dataset in use; a page that uses no digits passes ``dataset=False`` and gets
    None (no MNIST choice in its sidebar).
    """
    from ui import expired_sessions, reconnect, talk, tour  # here: they import this package

    expired_sessions.start()  # free closed tabs' sessions once their reconnect time is up
    presenting = talk.read_link()
    st.set_page_config(page_title=f"{title} · GenLab", page_icon=icon, layout="wide",
                       initial_sidebar_state="collapsed" if presenting else "auto")
    talk.inject_css()
    navigation_sidebar()
    reconnect.notice()  # the page came back on another replica: say what was lost
    tour.show()
    return dataset_sidebar() if dataset else None


def navigation_sidebar() -> None:
    """Links to the home page and every page in pages/, labelled as the pages title themselves.

    In talk mode the links carry ``talk`` and ``hide``, so the address bar stays a presenter
    link on every page.
    """
    from ui import talk

    params = talk.link_params() or None
    with st.sidebar:
        try:
            st.page_link("app.py", label="Home", icon=":material/home:", query_params=params)
            for path in page_files():
                st.page_link(f"pages/{path.name}", label=page_title(path),
                             icon=PAGE_ICONS.get(path.stem, ":material/chevron_right:"),
                             query_params=params)
        except StreamlitAPIException:
            return  # a page run on its own (`streamlit run pages/X.py`) has no app to link to
        st.divider()


def page_files() -> list[Path]:
    """The app's pages, in sidebar order (Streamlit sorts ``pages/`` by the number prefix)."""
    return sorted((ROOT / "pages").glob("*.py"))


_AST_LOCK = threading.Lock()


def page_summary(path: Path) -> str:
    """The first line of a page's docstring: what the home page says about it."""
    source = path.read_text(encoding="utf-8")
    # One parse at a time: Python 3.11.7's ast.parse is not thread-safe (sessions opening the
    # home page together raised "SystemError: AST constructor recursion depth mismatch")
    with _AST_LOCK:
        doc = ast.get_docstring(ast.parse(source)) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def page_title(path: Path) -> str:
    """``pages/3_VAE_Latent_Space.py`` -> ``VAE Latent Space`` (as Streamlit labels it)."""
    stem = path.stem.split("_", 1)[1] if path.stem[0].isdigit() and "_" in path.stem else path.stem
    return stem.replace("_", " ")


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=])")


def plain(text) -> str:
    """``text`` escaped so that Markdown shows it as typed (file names, anything a user typed).

    Every Markdown character gets a backslash; Streamlit still turns an escaped
    ``:material/x:`` into an icon, so a zero-width space breaks that pattern too.
    """
    return _MARKDOWN.sub(r"\\\1", str(text)).replace("\\:material", "\\:\u200bmaterial")


@contextmanager
def user_errors(prefix: str = ""):
    """Show a ValueError from genlib as a clear message instead of a traceback."""
    try:
        yield
    except ValueError as e:
        st.error(f"{prefix}{e}", icon=":material/error:")


# ----------------------------------------------------------------------------- data


# cache_resource, not cache_data: full MNIST is 220 MB of float32 and cache_data would
# unpickle a copy on every rerun. The loaders' arrays are read-only, so sharing is safe.
@st.cache_resource(show_spinner="Loading MNIST...", max_entries=4)
def load_dataset(source: str) -> genlib.MNIST:
    return genlib.load_mnist(source)


_UPLOAD_SUFFIXES = (".csv.gz", ".npz.gz", ".csv", ".npz", ".gz")


@st.cache_resource(show_spinner="Reading the uploaded file...", max_entries=2)
def load_uploaded(name: str, data: bytes, digest: str) -> genlib.MNIST:
    """Parse uploaded bytes through the same loader as a local file (``digest`` keys the cache).

    The bytes go to a temporary file with a fixed name (the user's name may hold anything);
    messages show the user's name instead.
    """
    suffix = next((s for s in _UPLOAD_SUFFIXES if name.lower().endswith(s)), ".npz")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            mnist = genlib.load_mnist(path)
        except ValueError as e:
            raise ValueError(str(e).replace(str(path), name)) from None
    return genlib.MNIST(mnist.train, mnist.test,
                        mnist.source.replace(path.name, name), "file", mnist.notes)


def upload_problem(error: BaseException) -> str:
    """What to tell the user when an upload could not be used, for any exception."""
    if isinstance(error, ValueError):
        return str(error)
    if isinstance(error, MemoryError):
        return "the file needs more memory than this server can spare"
    if isinstance(error, OSError):
        return f"the file could not be stored or read ({error.strerror or error})"
    return f"unexpected {type(error).__name__} while reading it (see the server log)"


def current_dataset() -> genlib.MNIST:
    """The dataset the sidebar has selected (the sample if anything goes wrong)."""
    source = st.session_state.get(SOURCE_KEY, "auto")
    if source == "upload" and UPLOAD_KEY in st.session_state:
        name, data = st.session_state[UPLOAD_KEY]
        try:
            return load_uploaded(name, data, hashlib.sha256(data).hexdigest())
        except Exception as e:  # e.g. a cache entry evicted and memory short on re-parsing
            log.warning("re-reading the upload %r failed: %r", name, e)
            st.session_state["_upload_error"] = upload_problem(e)
            st.session_state.pop(UPLOAD_KEY, None)
            st.session_state[SOURCE_KEY] = source = "auto"
    try:
        return load_dataset(source if source in SOURCE_LABELS else "auto")
    except ValueError:
        return load_dataset("sample")


def _use_source(source: str) -> None:
    st.session_state[SOURCE_KEY] = source
    if source != "upload":
        st.session_state.pop("_upload_error", None)


def _on_source_radio() -> None:
    _use_source(st.session_state["_source_radio"])


def _on_upload() -> None:
    """Try the new file; whatever goes wrong, say what and keep the dataset in use."""
    file = st.session_state.get("_source_upload")
    if file is None:
        return
    name = getattr(file, "name", "the file")
    try:
        data = file.getvalue()
        load_uploaded(name, data, hashlib.sha256(data).hexdigest())
    except Exception as e:  # not only ValueError: MemoryError, OSError, Streamlit's own errors
        if not isinstance(e, ValueError):
            log.exception("upload %r failed", name)
        problem = upload_problem(e)
        st.session_state["_upload_error"] = problem if name in problem else f"{name}: {problem}"
        return
    st.session_state.pop("_upload_error", None)
    st.session_state[UPLOAD_KEY] = (name, data)
    _use_source("upload")


def dataset_sidebar() -> genlib.MNIST:
    """Draw the data-source choice in the sidebar and return the dataset in use."""
    with st.sidebar:
        mnist = current_dataset()  # first: a failed re-read of an upload changes the choice
        options = ["auto", *available_sources()]
        if UPLOAD_KEY in st.session_state:
            options.append("upload")
        current = st.session_state.get(SOURCE_KEY, "auto")
        if current not in options:
            current = "auto"
        st.radio("MNIST source", options, index=options.index(current),
                 format_func=SOURCE_LABELS.get, key="_source_radio", on_change=_on_source_radio,
                 help="Full MNIST is used when Keras has it cached (~/.keras/datasets/mnist.npz)"
                      " or $GENLAB_MNIST points to a file; otherwise the 5,000-digit sample.")
        error = st.session_state.get("_upload_error")
        with st.expander("Use your own MNIST file", expanded=bool(error)):
            st.file_uploader("A Keras-layout .npz or Kaggle's train.csv", type=["npz", "csv", "gz"],
                             key="_source_upload", on_change=_on_upload,
                             help=f"Up to {data_files.MAX_DIGITS:,} digits and "
                                  f"{data_files.MAX_UNPACKED_BYTES // 2**20} MB unpacked.")
            if error:
                st.error(f"Could not use that file: {plain(error)}. Keeping the current dataset.",
                         icon=":material/error:")
                st.button("Use the embedded sample", key="_use_sample",
                          on_click=_use_source, args=("sample",))
        st.caption(f"**Dataset:** {plain(mnist.source)}  \n"
                   f"{len(mnist.train):,} training / {len(mnist.test):,} held-out digits")
        for note in mnist.notes:
            st.info(plain(note), icon=":material/info:")
    return mnist


# ----------------------------------------------------------------------------- images


def show_grid(images, n_cols: int | None = None, *, key: str, caption: str | None = None,
              scale: int = 4, width="content", download: bool = True) -> None:
    """Show digits (n, 28, 28) as one crisp grid image, with a PNG download button."""
    png = gim.to_png(gim.tile(images, n_cols), scale=scale)
    inline_image.image(png, caption=caption, width=width)
    if download:
        st.download_button("Download PNG", png, file_name=f"{key}.png", mime="image/png",
                           key=f"{key}_png", on_click="ignore", icon=":material/download:")
