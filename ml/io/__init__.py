"""Frames in and out of the sidecar: colour transforms, images, EXR passes, video."""
