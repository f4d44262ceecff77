"""The GAN page's exports: metric history as CSV, the fixed-noise grids as a GIF, the weights.

Each builder takes everything it needs as arguments and never reads ``st.session_state``:
a download button given a callable runs it outside the script run, when the user clicks,
where session state cannot be read (the weights export once failed silently that way).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import streamlit as st

from genlib import gan
from genlib.checkpoints import manifest_path

__all__ = ["exports_ui", "metrics_csv", "history_gif", "weights_zip"]


def metrics_csv(history: dict) -> str:
    """The metric history as CSV text (header: step,d_loss,g_loss,d_real,d_fake)."""
    lines = [",".join(["step", *gan.METRICS])]
    for i in range(len(history.get("step", ()))):
        lines.append(",".join([str(int(history["step"][i]))]
                              + [f"{float(history[m][i]):.6g}" for m in gan.METRICS]))
    return "\n".join(lines) + "\n"


def history_gif(frames: tuple[list, list], scale: int = 3, ms: int = 300) -> bytes:
    """The fixed-noise grids over training as an animated GIF (8 x 8 digits per frame)."""
    from PIL import Image

    from genlib.images import tile, upscale

    _, images = frames
    if not images:
        raise ValueError("no history frames yet: train for a few steps first")
    pics = [Image.fromarray(upscale((tile(np.asarray(im, np.float32) / 255.0, 8) * 255 + 0.5)
                                    .astype(np.uint8), scale), mode="L") for im in images]
    buf = io.BytesIO()
    pics[0].save(buf, format="GIF", save_all=True, append_images=pics[1:], duration=ms,
                 loop=0)
    return buf.getvalue()


def weights_zip(model, runner=None) -> bytes:
    """A zip of the checkpoint (``gan_<preset>.npz`` + ``.json``) that ``GAN.load`` reads.

    Parameters
    ----------
    model : a :class:`genlib.gan.GAN` (its files are zipped as they are) or a trainer
        (saved now)
    runner : the :class:`genlib.live.LiveTraining` driving the trainer, if any: the
        trainer is saved between two of its slices
    """
    name = f"gan_{model.preset}"
    with tempfile.TemporaryDirectory() as tmp:
        path = getattr(model, "path", None) if isinstance(model, gan.GAN) else None
        if path is None:
            path = Path(tmp) / f"{name}.npz"
            if runner is not None:
                with runner.holding():
                    model.save(path)
            else:
                model.save(path)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(f"{name}.npz", Path(path).read_bytes())
            z.writestr(f"{name}.json", manifest_path(path).read_bytes())
    return buf.getvalue()


def exports_ui(snap: dict, model, runner=None) -> None:
    """The page's download buttons for the state in ``snap`` and the model shown.

    The GIF and the weights are built when clicked, outside any script run: their callables
    get everything as arguments (``partial``) and never read ``st.session_state``.
    """
    st.download_button("Metrics (CSV)", metrics_csv(snap["history"]), "gan_metrics.csv",
                       "text/csv", key="gan_csv", on_click="ignore", icon=":material/table:")
    if snap["frames"][1]:
        st.download_button("History (animated GIF)", partial(history_gif, snap["frames"]),
                           "gan_history.gif", "image/gif", key="gan_gif", on_click="ignore",
                           icon=":material/animation:")
    st.download_button("Weights (.npz + .json, zipped)", partial(weights_zip, model, runner),
                       "gan_weights.zip", "application/zip", key="gan_weights",
                       on_click="ignore", icon=":material/download:")
    st.caption("Weights load with `genlib.gan.GAN.load(path)` (numpy only) or "
               "`genlib.gan_train.GANTrainer.load(path)` to keep training.")
