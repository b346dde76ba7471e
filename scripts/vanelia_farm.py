"""Headless entry point of the farm's stage tasks: ``python scripts/vanelia_farm.py TASK ...``.

The same as ``vanelia farm TASK ...`` (farm/cli.py), for farm workers that run a checkout
with the sidecar's Python rather than an installed `vanelia` command (Flamenco job type,
OpenJD template). Exits 0 only when the task did what it was asked; 2 with a message otherwise.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cli.main import main  # noqa: E402  (farm/cli.py holds the command; cli.main prints its errors)

if __name__ == "__main__":
    sys.exit(main(["farm", *sys.argv[1:]]))
