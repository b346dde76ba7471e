"""diffuse stage."""
