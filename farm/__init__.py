"""Beyond one machine: the pipeline in frame chunks on Ray, Flamenco and OpenJD farms (README, Beyond one machine)."""
