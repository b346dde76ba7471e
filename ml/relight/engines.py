"""The relight stage's engines (names and defaults: shotcache/engines.py): importing this
module registers them. ``lambert`` and ``none`` are analytic (lambert.py); ``unet`` is the
learned G-buffer U-Net (unet_engine.py, model in unet.py)."""
from __future__ import annotations

from . import lambert, unet_engine  # noqa: F401  (register on import)
