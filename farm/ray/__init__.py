"""The pipeline on a Ray cluster: cluster.py (joining), remote.py (render tasks, stage actors), dispatch.py (chunks to workers, lost frames replanned), runner.py (RayPipelineRunner, render_shot)."""
