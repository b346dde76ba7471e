"""composite stage."""
