"""Colour constants both sides share (the sidecar's ml/io/colour.py and the Blender add-on)."""
from __future__ import annotations

REC709_LUMA = (0.2126, 0.7152, 0.0722)
"""Rec. 709 luminance weights of linear RGB: the primaries of the plates and the renders."""
