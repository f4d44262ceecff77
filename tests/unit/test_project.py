"""Project promises: the README's commands are the ones CI runs; config as documented."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    return [lines[i + 1] for i, line in enumerate(lines[:12]) if line.startswith("```bash")]


def test_ci_runs_exactly_the_readme_test_command():
    """.ci/run ends with the README's second command, verbatim."""
    install_and_run, test = _readme_commands()[:2]
    assert "streamlit run app.py" in install_and_run and "requirements.txt" in install_and_run
    assert "pytest" in test and "requirements-dev.txt" in test
    ci_lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.strip()]
    assert ci_lines[-1] == test


def test_streamlit_config_is_demo_safe():
    """No tracebacks in the browser, no usage statistics, no magic, bounded uploads."""
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["client"]["showErrorDetails"] == "none"
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["runner"]["magicEnabled"] is False
    assert 0 < cfg["server"]["maxUploadSize"] <= 200


def test_every_page_has_a_one_line_summary():
    """The home page lists each page by its docstring's first line."""
    import ui

    for path in ui.page_files():
        assert ui.page_summary(path), f"{path.name} needs a docstring"
