"""The application layer: workflows the CLI (and other front ends) call. Never imports ``cli``."""
