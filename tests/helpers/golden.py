"""Output checked against a golden file in tests/data/golden."""

import os

from tests.helpers.paths import DATA

GOLDEN = DATA / "golden"


def check_golden(name: str, text: str) -> None:
    """Assert `text` is tests/data/golden/NAME; with UPDATE_GOLDEN=1 in the
    environment, write it there instead (then read the diff before committing)."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()
