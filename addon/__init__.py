"""Vanelia's Blender-side core: plain synchronous functions, no UI.

plate (decode the footage into the shot cache), tracks + camera (camera track -> Blender
camera and back), product (GLB import and placement), lighting (world + key light from the
plate), render (Cycles passes -> one canonical multilayer EXR per frame), shot (orchestration:
``setup_shot`` / ``render_shot``), demo_scene (generated demo footage + product). Operators,
panels and the headless batch script all call these; compat holds every Blender-version
difference.
"""
