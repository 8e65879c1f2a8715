"""Where things are, whatever the working directory."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout
DATA = ROOT / "tests" / "data"
REFERENCE = ROOT / "results" / "reference"  # the committed reference sweep (version 1): never written to
