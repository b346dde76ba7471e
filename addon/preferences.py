# mypy: disable-error-code="valid-type"
"""Add-on preferences: where the sidecar is, how to start it, where shots and weights live.

Blender's property API declares settings as class annotations whose values are
``bpy.props`` calls; mypy cannot read those as types, hence the file-level
``valid-type`` exemption above (nothing else in this file relies on it).

The extension runs under two package names: ``bl_ext.<repo>.vanelia`` when installed and
``vanelia_addon`` when scripts/tests load the source tree (scripts/blender_env.py). Every
name here derives from ``__package__`` so both work.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from ..shotcache.net import is_loopback

ADDON_ID: str = (__package__ or "vanelia_addon.addon").rpartition(".")[0]
"""The extension's own package name (``bl_ext.user_default.vanelia`` or ``vanelia_addon``)."""

DEFAULT_URL = "http://127.0.0.1:8765"
DEFAULT_COMMAND = "vanelia serve --host 127.0.0.1 --port {port}"

DEVICE_ITEMS = [
    ("AUTO", "Auto", "CUDA when the sidecar has a GPU, CPU otherwise"),
    ("CUDA", "CUDA", "The sidecar's first CUDA GPU"),
    ("CPU", "CPU", "CPU only (slow for learned engines)"),
]


def user_data_dir(sub: str) -> str:
    """A writable folder for this extension (never inside the extension's own folder).

    Installed, this is ``bpy.utils.extension_path_user``. Loaded from source as
    ``vanelia_addon`` there is no extension repository, so the same layout is used under
    the user EXTENSIONS resource folder (``.user/source/vanelia/<sub>``).
    """
    if ADDON_ID.startswith("bl_ext."):
        path = bpy.utils.extension_path_user(ADDON_ID, path=sub, create=True)
        if path:
            return str(path)
    base = bpy.utils.user_resource("EXTENSIONS")
    path = os.path.join(base, ".user", "source", "vanelia", sub)
    os.makedirs(path, exist_ok=True)
    return path


def check_sidecar_url(url: str) -> str:
    """Return a normalised URL or raise ValueError saying what to change.

    Extensions may talk to this machine freely; any other host needs Blender's
    "Allow Online Access" (``bpy.app.online_access``), which the user controls.
    """
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"sidecar URL {url!r} is not an http(s) URL; use e.g. {DEFAULT_URL}")
    if not is_loopback(parts.hostname) and not bpy.app.online_access:
        raise ValueError(
            f"sidecar URL {url!r} is not on this machine and Blender's online access is off; "
            "enable Preferences > System > Network > Allow Online Access, or use a 127.0.0.1 URL"
        )
    return url


def _restart_sidecar(self: "VaneliaPreferences", context: bpy.types.Context | None) -> None:
    """A setting the sidecar was started with changed: restart the one this Blender started
    (in a thread: it waits for /health), so the next job sees the new settings. A sidecar
    Blender did not start is left alone."""
    from . import process_manager

    process_manager.restart_if_started(sidecar_settings(context))


def _port(url: str) -> int:
    parts = urlsplit(url)
    if parts.port:
        return int(parts.port)
    return 443 if parts.scheme == "https" else 80


class VaneliaPreferences(bpy.types.AddonPreferences):
    """Settings shared by every .blend: sidecar connection, folders, device."""

    bl_idname = ADDON_ID

    sidecar_mode: EnumProperty(
        update=_restart_sidecar,
        name="Sidecar",
        items=[
            ("LOCAL", "Start Locally", "Blender starts the sidecar as a subprocess and stops it on exit"),
            ("CONNECT", "Connect to URL", "Use a sidecar that is already running"),
        ],
        default="LOCAL",
    )
    sidecar_url: StringProperty(
        update=_restart_sidecar,
        name="Sidecar URL",
        description="HTTP address of the sidecar; hosts other than this machine need Allow Online Access",
        default=DEFAULT_URL,
    )
    sidecar_token: StringProperty(
        update=_restart_sidecar,
        name="Token",
        description="Bearer token; required by a sidecar that listens on a non-loopback address",
        default="",
        subtype="PASSWORD",
    )
    sidecar_python: StringProperty(
        update=_restart_sidecar,
        name="Sidecar Python",
        description="Python of the sidecar environment (e.g. .venv/bin/python); empty = use the launch command as is",
        default="",
        subtype="FILE_PATH",
    )
    sidecar_command: StringProperty(
        update=_restart_sidecar,
        name="Launch Command",
        description="Command that starts the sidecar; {port} is replaced by the URL's port. "
        "With a Sidecar Python set, 'vanelia' runs as '<python> -m cli.main'",
        default=DEFAULT_COMMAND,
    )
    sidecar_autostart: BoolProperty(
        name="Start on Demand",
        description="Start the local sidecar when a job is sent and it is not running",
        default=True,
    )
    shot_root: StringProperty(
        update=_restart_sidecar,
        name="Shot Cache Root",
        description="Folder holding one sub-folder per shot; empty = the extension's user folder",
        default="",
        subtype="DIR_PATH",
    )
    checkpoint_dir: StringProperty(
        update=_restart_sidecar,
        name="Checkpoints",
        description="Folder with learned-engine checkpoints (.safetensors); empty = the ones shipped in checkpoints/ (classical where none ships)",
        default="",
        subtype="DIR_PATH",
    )
    model_dir: StringProperty(
        update=_restart_sidecar,
        name="Model Folders",
        description="Folder with local diffusers/transformers model folders (never downloaded)",
        default="",
        subtype="DIR_PATH",
    )
    device: EnumProperty(name="Device", items=DEVICE_ITEMS, default="AUTO", update=_restart_sidecar)

    # ---- derived values (plain functions of the settings) ---------------------
    def shot_root_path(self) -> str:
        if self.shot_root:
            return bpy.path.abspath(self.shot_root)
        return user_data_dir("cache")

    def launch_argv(self) -> list[str]:
        """The sidecar's command line as a list (no shell involved)."""
        cmd = (self.sidecar_command or DEFAULT_COMMAND).replace("{port}", str(_port(self.sidecar_url or DEFAULT_URL)))
        argv = shlex.split(cmd)
        if self.sidecar_python and argv and argv[0] == "vanelia":
            argv = [bpy.path.abspath(self.sidecar_python), "-m", "cli.main", *argv[1:]]
        return argv

    def cli_argv(self) -> list[str]:
        """How to run a `vanelia` command (e.g. ``track``): the Sidecar Python's ``-m cli.main``,
        else the launch command's program."""
        if self.sidecar_python:
            return [bpy.path.abspath(self.sidecar_python), "-m", "cli.main"]
        argv = shlex.split(self.sidecar_command or DEFAULT_COMMAND)
        return argv[:1] or ["vanelia"]

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        col = layout.column()
        col.prop(self, "sidecar_mode")
        col.prop(self, "sidecar_url")
        try:
            check_sidecar_url(self.sidecar_url)
        except ValueError as exc:
            col.label(text=str(exc), icon="ERROR")
        col.prop(self, "sidecar_token")
        if self.sidecar_mode == "LOCAL":
            col.prop(self, "sidecar_python")
            col.prop(self, "sidecar_command")
            col.prop(self, "sidecar_autostart")
        col.separator()
        col.prop(self, "shot_root")
        col.prop(self, "checkpoint_dir")
        col.prop(self, "model_dir")
        col.prop(self, "device")


def get_prefs(context: bpy.types.Context | None = None) -> VaneliaPreferences | None:
    """The add-on's preferences, or None when the add-on is not enabled (source-loaded code)."""
    ctx = context or bpy.context
    prefs = ctx.preferences
    if prefs is None:
        return None
    addon = prefs.addons.get(ADDON_ID)
    if addon is None:
        return None
    p = addon.preferences
    return p if isinstance(p, VaneliaPreferences) else None


def shot_root(context: bpy.types.Context | None = None) -> str:
    prefs = get_prefs(context)
    return prefs.shot_root_path() if prefs is not None else user_data_dir("cache")


@dataclass(frozen=True)
class SidecarSettings:
    """A plain copy of the preferences: what worker threads get (they never touch bpy)."""

    mode: str = "LOCAL"
    url: str = DEFAULT_URL
    token: str = ""
    launch_argv: tuple[str, ...] = ()
    autostart: bool = True
    shot_root: str = ""
    checkpoint_dir: str = ""
    model_dir: str = ""
    device: str = "AUTO"
    cli_argv: tuple[str, ...] = ("vanelia",)


def sidecar_settings(context: bpy.types.Context | None = None) -> SidecarSettings:
    """Snapshot of the preferences (defaults when the add-on is loaded but not enabled)."""
    prefs = get_prefs(context)
    if prefs is None:
        argv = tuple(shlex.split(DEFAULT_COMMAND.replace("{port}", str(_port(DEFAULT_URL)))))
        return SidecarSettings(launch_argv=argv, shot_root=user_data_dir("cache"))
    return SidecarSettings(
        mode=str(prefs.sidecar_mode),
        url=str(prefs.sidecar_url),
        token=str(prefs.sidecar_token),
        launch_argv=tuple(prefs.launch_argv()),
        autostart=bool(prefs.sidecar_autostart),
        shot_root=prefs.shot_root_path(),
        checkpoint_dir=bpy.path.abspath(prefs.checkpoint_dir) if prefs.checkpoint_dir else "",
        model_dir=bpy.path.abspath(prefs.model_dir) if prefs.model_dir else "",
        device=str(prefs.device),
        cli_argv=tuple(prefs.cli_argv()),
    )


CLASSES: tuple[type, ...] = (VaneliaPreferences,)
