"""Light estimated from the plate: environment map (envmap), key light (key), shot record (shot)."""
