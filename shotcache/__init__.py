"""Shot cache contract shared by the Blender side and the sidecar (stdlib only)."""
from .schema import PROTOCOL_VERSION, JobSpec, SchemaError, Shot  # noqa: F401
from .layout import ShotPaths  # noqa: F401
