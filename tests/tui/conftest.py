import pytest


@pytest.fixture(autouse=True)
def _stable_terminal(monkeypatch):
    # Snapshots must not depend on the caller's terminal: NO_COLOR changes every colour.
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
