"""Where things are: the repository (the code under test), the tests folder, the clinic example."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
EXAMPLE = ROOT / "examples" / "clinic"
