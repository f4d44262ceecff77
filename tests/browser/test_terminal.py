"""A user running the README's command sees Streamlit's own lines and real problems, nothing else.

The server runs as `streamlit run app.py` does from a fresh clone (the project's config, the file
watcher on, the .venv inside the checkout); Chromium opens every page and trains the GAN a step.
"""

import re
from pathlib import Path

from server import Server, open_page

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["app.py"] + [str(p.relative_to(ROOT)) for p in sorted((ROOT / "pages").glob("*.py"))]
# Streamlit's own start-up lines, as printed for `streamlit run` with headless = true
# (its log lines start with a time stamp; "Stopping..." is its answer to the test's Ctrl-C)
EXPECTED = ("You can now view your Streamlit app in your browser.", "URL: http://", "Local URL:",
            "Network URL:", "External URL:", "Uvicorn server started on ", "Stopping...")
TIME_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ ")


def test_the_terminal_stays_quiet_while_pages_are_used(browser, tmp_path):
    """No inotify overflow, TensorFlow start-up chatter, ScriptRunContext or Session State
    warnings, and no traceback, while every page is opened and a GAN trains a few steps."""
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        server = Server(as_readme=True, log=log)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        try:
            for path in PAGES:
                open_page(page, server, path)
            open_page(page, server, "pages/4_GAN_Live_Training.py")
            page.locator(".st-key-gan_step button").click()
            page.wait_for_function(
                "() => !document.body.innerText.includes('Loading TensorFlow')"
                " && !document.body.innerText.includes('Compiling')", timeout=120_000)
            page.wait_for_timeout(1000)
        finally:
            context.close()
            server.stop()
    lines = [TIME_STAMP.sub("", ln.strip()) for ln in log_path.read_text().splitlines()
             if ln.strip()]
    unexpected = [ln for ln in lines if not ln.startswith(EXPECTED)]
    assert not unexpected, "\n".join(unexpected[:20])
