"""The composite stage's engines (names and defaults: shotcache/engines.py): importing this
module registers them. ``classical`` (classical.py), ``photorealistic`` (photorealistic_engine.py,
model in photorealistic.py), and the diffusion compositors ``controlnet`` / ``iclight``
(diffusion.py)."""
from __future__ import annotations

from . import classical, diffusion, photorealistic_engine  # noqa: F401  (register on import)
