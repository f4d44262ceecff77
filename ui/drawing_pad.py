"""Draw your own digit: one drawing pad, with an image upload beside it, for every page.

The pad is a Streamlit custom component (``st.components.v2``: inline HTML, CSS and JS mounted
in the page, no iframe, no third-party package). A square black canvas takes mouse, touch and
pen strokes (pointer events) in light ink with a pen about as wide, relative to the digit, as
MNIST's; Undo, Clear and Invert (dark ink on white on screen only, remembered by the browser)
sit under it. When a stroke ends the pad sends all its strokes (points
in [0, 1] of the pad's side) with ``setStateValue``; :func:`genlib.drawing.digit_from_strokes`
turns them into a 28 x 28 digit by MNIST's recipe, shown beside the pad.

Pages call :func:`digit_input`, which returns the digit (float32 (28, 28) in [0, 1]) or None
with a message. :func:`peek` gives the same digit without drawing anything, for a page that
must act on a new drawing before its own widgets are drawn (the VAE sets its sliders).

In AppTest the pad's value is its session-state entry: ``at.session_state[pad_key("vae")] =
{"strokes": [...]}`` then ``at.run()`` is a stroke ending.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import streamlit as st

from genlib import digit_upload, drawing
from ui import inline_image

__all__ = ["digit_input", "peek", "pad_key", "upload_key", "Choice"]

PAD_SIDE = 280  # CSS pixels at most; narrower on a phone
PREVIEW_SIDE = 168  # the 28 x 28 digit beside it, 6 screen pixels a pixel (never stretched)

_HTML = """
<div class="pad">
  <canvas class="pad-canvas" role="img" tabindex="0"
          aria-label="Drawing pad: draw one digit with the mouse, a finger or a pen"></canvas>
  <div class="pad-buttons">
    <button type="button" class="pad-undo" title="Remove the last stroke">Undo</button>
    <button type="button" class="pad-clear" title="Remove every stroke">Clear</button>
    <button type="button" class="pad-invert" aria-pressed="false"
            title="Dark ink on white while you draw; the model still gets light on black"
            >Invert</button>
  </div>
</div>
"""

_CSS = """
.pad { width: 100%; max-width: %(side)dpx; }
.pad-canvas {
  display: block; width: 100%; aspect-ratio: 1 / 1; background: #000;
  border: 1px solid var(--st-border-color, rgba(49, 51, 63, 0.2)); box-sizing: border-box;
  border-radius: 0.5rem; cursor: crosshair;
  touch-action: none;  /* a finger draws instead of scrolling the page */
  user-select: none; -webkit-user-select: none;
}
.pad-buttons { display: flex; gap: 0.5rem; margin-top: 0.5rem; }
.pad-buttons button {
  flex: 1; padding: 0.35rem 0.75rem; cursor: pointer; font: inherit;
  font-family: var(--st-font, sans-serif); font-size: 0.9rem;
  color: var(--st-text-color, #31333f); background: var(--st-background-color, #fff);
  border: 1px solid var(--st-border-color, rgba(49, 51, 63, 0.2));
  border-radius: var(--st-base-radius, 0.5rem);
}
.pad-buttons button[aria-pressed="true"] { border-color: var(--st-primary-color, #ff4b4b); }
.pad-buttons button:hover { border-color: var(--st-primary-color, #ff4b4b);
  color: var(--st-primary-color, #ff4b4b); }
""".replace("%(side)d", str(PAD_SIDE))

# The function runs on mount and again whenever the data passed from Python changes (every
# stroke): the live strokes stay on the canvas element, and only a fresh canvas (a remount)
# starts from the strokes Python holds.
_JS = """
export default function ({ data, parentElement, setStateValue }) {
  const canvas = parentElement.querySelector("canvas.pad-canvas");
  if (!canvas) return;
  const pad = canvas.__pad || (canvas.__pad = {});
  pad.send = () => setStateValue("strokes", pad.strokes.map((s) => s.slice()));
  if (pad.cleanup) return pad.cleanup;
  const pen = (data && data.pen) || 0.1;
  const maxStrokes = (data && data.max_strokes) || 200;
  pad.strokes = data && Array.isArray(data.strokes) ? data.strokes.map((s) => s.slice()) : [];
  pad.current = null;
  const ctx = canvas.getContext("2d");
  const invert = parentElement.querySelector(".pad-invert");
  let dark = false;  // dark ink on white: the user's choice, kept in this browser
  try { dark = window.localStorage.getItem("genlab-pad-ink") === "dark"; } catch (err) {}

  function trace(pts, side) {
    if (pts.length === 1) {
      ctx.beginPath();
      ctx.arc(pts[0][0] * side, pts[0][1] * side, (pen * side) / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(pts[0][0] * side, pts[0][1] * side);
    for (let i = 1; i < pts.length; i++) ctx.lineTo(pts[i][0] * side, pts[i][1] * side);
    ctx.stroke();
  }
  function redraw() {
    const side = canvas.width;
    const paper = dark ? "#fff" : "#000", ink = dark ? "#000" : "#fff";
    invert.setAttribute("aria-pressed", String(dark));
    ctx.fillStyle = paper;
    ctx.fillRect(0, 0, side, side);
    ctx.strokeStyle = ink;
    ctx.fillStyle = ink;
    ctx.lineWidth = pen * side;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const s of pad.strokes) trace(s, side);
    if (pad.current) trace(pad.current, side);
  }
  function fit() {
    const side = Math.max(1, Math.round(canvas.clientWidth * (window.devicePixelRatio || 1)));
    if (canvas.width !== side) { canvas.width = side; canvas.height = side; }
    redraw();
  }
  function at(e) {
    const r = canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [Math.round(clamp((e.clientX - r.left) / r.width) * 1e4) / 1e4,
            Math.round(clamp((e.clientY - r.top) / r.height) * 1e4) / 1e4];
  }
  function down(e) {
    if (e.pointerType === "mouse" && e.button !== 0) return;
    if (pad.strokes.length >= maxStrokes) return;
    e.preventDefault();
    try { canvas.setPointerCapture(e.pointerId); } catch (err) { /* synthetic events */ }
    pad.pointer = e.pointerId;
    pad.current = [at(e)];
    redraw();
  }
  function move(e) {
    if (!pad.current || e.pointerId !== pad.pointer) return;
    const events = (e.getCoalescedEvents && e.getCoalescedEvents()) || [];
    for (const ev of events.length ? events : [e]) {
      const p = at(ev), last = pad.current[pad.current.length - 1];
      if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= 0.004) pad.current.push(p);
    }
    redraw();
  }
  function up(e) {
    if (!pad.current || e.pointerId !== pad.pointer) return;
    pad.strokes.push(pad.current);
    pad.current = null;
    redraw();
    pad.send();
  }
  canvas.addEventListener("pointerdown", down);
  canvas.addEventListener("pointermove", move);
  canvas.addEventListener("pointerup", up);
  canvas.addEventListener("pointercancel", up);
  parentElement.querySelector(".pad-undo").addEventListener("click", () => {
    if (!pad.strokes.length) return;
    pad.strokes.pop(); redraw(); pad.send();
  });
  parentElement.querySelector(".pad-clear").addEventListener("click", () => {
    pad.strokes = []; redraw(); pad.send();
  });
  invert.addEventListener("click", () => {
    dark = !dark;
    try { window.localStorage.setItem("genlab-pad-ink", dark ? "dark" : "light"); } catch (err) {}
    redraw();  // only the look: the strokes, and what Python makes of them, stay the same
  });
  const observer = new ResizeObserver(fit);
  observer.observe(canvas);
  fit();
  pad.cleanup = () => {
    observer.disconnect();
    canvas.removeEventListener("pointerdown", down);
    canvas.removeEventListener("pointermove", move);
    canvas.removeEventListener("pointerup", up);
    canvas.removeEventListener("pointercancel", up);
  };
  return pad.cleanup;
}
"""

_pad = st.components.v2.component("genlab_drawing_pad", html=_HTML, css=_CSS, js=_JS)


def pad_key(key: str) -> str:
    """The session-state key of the pad's value ``{"strokes": [...]}``."""
    return f"{key}_pad"


def upload_key(key: str) -> str:
    """The session-state key of the upload beside the pad."""
    return f"{key}_upload"


@dataclass(frozen=True)
class Choice:
    """What :func:`peek` and :func:`digit_input` found.

    digit : float32 (28, 28) in [0, 1], read-only, or None
    source : "pad" or "upload", the one used (the one changed last)
    token : names this input (same drawing or file, same token); None when there is none
    problem : why there is no digit (a message for the user), or None
    """

    digit: np.ndarray | None
    source: str
    token: str | None
    problem: str | None = None


# cached by the strokes' JSON: a rerun with the same drawing costs a dictionary look-up
@st.cache_data(show_spinner=False, max_entries=64)
def _digit_from_json(strokes_json: str) -> np.ndarray:
    return drawing.digit_from_strokes(json.loads(strokes_json))


@st.cache_data(show_spinner=False, max_entries=16)
def _digit_from_file(file_id: str, _data: bytes) -> np.ndarray:
    return digit_upload.prepare_digit(_data)


@st.cache_data(show_spinner=False, max_entries=16)
def _preview_png(file_id: str, _data: bytes) -> bytes:
    return digit_upload.preview_png(_data)


def _strokes(value) -> list:
    """The strokes in the pad's state value (a dict from the browser, or set by a test)."""
    if value is None:
        return []
    strokes = value.get("strokes") if hasattr(value, "get") else None
    return strokes if isinstance(strokes, list) else []


def _frozen(digit: np.ndarray) -> np.ndarray:
    digit = np.array(digit, np.float32)
    digit.flags.writeable = False
    return digit


def peek(key: str) -> Choice:
    """The digit :func:`digit_input` (same ``key``) shows this run, without drawing anything.

    The input in use is the one changed last: a new stroke picks the pad, a new file the
    upload; clearing one falls back to the other. Idempotent within a run.
    """
    ss = st.session_state
    strokes = _strokes(ss.get(pad_key(key)))
    file = ss.get(upload_key(key))
    pad_token = ("pad:" + hashlib.sha1(json.dumps(strokes).encode()).hexdigest()[:16]
                 if strokes else None)
    file_token = f"upload:{file.file_id}" if file is not None else None
    seen = ss.setdefault(f"_{key}_inputs", {"pad": None, "upload": None, "source": "pad"})
    if pad_token != seen["pad"]:
        seen["pad"], seen["source"] = pad_token, "pad" if pad_token else "upload"
    if file_token != seen["upload"]:
        seen["upload"], seen["source"] = file_token, "upload" if file_token else "pad"
    source = seen["source"]
    if source == "upload" and file is None:
        source = "pad"
    if source == "pad" and not strokes and file is not None:
        source = "upload"
    try:
        if source == "upload":
            return Choice(_frozen(_digit_from_file(file.file_id, file.getvalue())), source,
                          file_token)
        if not strokes:
            return Choice(None, "pad", None, "Draw a digit on the pad, or upload a picture "
                                             "of one.")
        return Choice(_frozen(_digit_from_json(json.dumps(strokes))), source, pad_token)
    except ValueError as e:
        what = "that picture" if source == "upload" else "the drawing"
        return Choice(None, source, file_token if source == "upload" else pad_token,
                      f"Could not use {what}: {e}.")


def _judge_line(digit: np.ndarray, kind: str) -> str:
    from ui import evaluation

    judge, _ = evaluation.load_judge(kind)
    p = judge.predict_proba(digit[None])[0]
    k = int(np.argmax(p))
    return f"The judge reads it as **{k}** ({p[k]:.0%} sure)."


def digit_input(key: str, *, upload: bool = True, judge_kind: str | None = "sample",
                label: str = "Draw a digit") -> np.ndarray | None:
    """The drawing pad, the upload beside it, and the 28 x 28 digit they give.

    Parameters
    ----------
    key : names this input on the page (the pad is ``pad_key(key)``, the upload
        ``upload_key(key)``).
    upload : show the image upload beside the pad as an alternative.
    judge_kind : the dataset kind whose judge CNN reads the digit under the preview
        (``ui.evaluation.load_judge``); None shows no reading.
    label : the heading over the pad.

    Returns
    -------
    The digit, float32 (28, 28) in [0, 1] (read-only), or None when the pad is empty or its
    drawing (or the upload) is not usable; the reason is shown in place of the digit.
    """
    ss = st.session_state
    strokes = _strokes(ss.get(pad_key(key)))
    pad_col, digit_col, upload_col = st.columns([3, 2, 3] if upload else [3, 2, 1],
                                                gap="medium")
    with pad_col:
        st.markdown(f"**{label}**")
        _pad(key=pad_key(key), data={"strokes": strokes, "pen": drawing.PEN,
                                     "max_strokes": drawing.MAX_STROKES},
             default={"strokes": []}, on_strokes_change=lambda: None, width="stretch")
        st.caption("Light ink on black, as MNIST (Invert: dark on white while you draw; the "
                   "model still gets light on black). Mouse, finger or pen; each stroke is "
                   "sent when you lift it.")
    file = None
    if upload:
        with upload_col:
            file = st.file_uploader("Or upload a picture of one digit (PNG or JPEG, any size, "
                                    "light or dark background)", type=["png", "jpg", "jpeg"],
                                    key=upload_key(key))
    choice = peek(key)
    with digit_col:
        if choice.digit is not None:
            from ui import show_grid

            show_grid(choice.digit[None], 1, key=f"{key}_as_mnist", scale=6,
                      caption="As MNIST: 28 × 28, fit in a 20 × 20 box, centred on its "
                              "centre of mass", download=False, width=PREVIEW_SIDE)
            if judge_kind is not None:
                st.markdown(_judge_line(choice.digit, judge_kind))
            st.caption("From your " + ("upload." if choice.source == "upload" else "drawing."))
        elif choice.token is None:
            st.info(choice.problem, icon=":material/draw:")
        else:
            st.warning(choice.problem, icon=":material/warning:")
    if file is not None and choice.source == "upload":
        try:
            inline_image.image(_preview_png(file.file_id, file.getvalue()), where=upload_col,
                               caption="Your image", width=160)
        except ValueError:
            pass  # the message beside the pad already says why
    return choice.digit
