"""Camera from raw footage: structure-from-motion solve, QC, ground plane and placement.

Sidecar side (numpy, pycolmap). Blender's own tracker lives in addon/tracking.py; both write
the same `Solve` out as a NeRF-style transforms.json so the result round-trips through
`vanelia render --camera`.
"""
