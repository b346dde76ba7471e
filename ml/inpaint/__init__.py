"""inpaint stage."""
