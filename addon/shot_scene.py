"""One scene per shot, built aside and swapped in: the user's scene is never touched.

Why: building a shot into whatever scene is current put the user's own objects (the
default Cube) into the product pass, and a failure half-way (a build without
OpenImageDenoise, a bad GLB) left a half-built scene behind. So a shot is always built
into a *fresh* scene (``building``): on success it replaces the shot's previous scene
(found by the shot folder stamped on it) and takes its name; on failure the fresh scene
and every data-block created since the start are removed, and the previous scene is
untouched.

Objects of a shot (camera, product, ground, lights) are found *in their scene*
(``find``), never by a global name: two shots in one .blend each have their own
"Vanelia Camera" (Blender names the second "Vanelia Camera.001").
"""
from __future__ import annotations

import contextlib
import os
import re
from typing import Any, Iterator

import bpy

SHOT_PROP = "vanelia_shot_dir"
SCENE_PREFIX = "Vanelia "
_ID_KINDS = ("objects", "meshes", "materials", "cameras", "lights", "images", "worlds", "actions", "node_groups",
             "textures", "collections", "curves")


def find(scene: Any, name: str) -> Any:
    """The object called ``name`` in ``scene`` (Blender's ``name.001`` copies included), or None."""
    pattern = re.compile(rf"^{re.escape(name)}(\.\d{{3,}})?$")
    for obj in scene.objects:
        if pattern.match(obj.name):
            return obj
    return None


def remove_objects(objs: list[Any]) -> None:
    """Remove objects and the data they alone used (mesh, camera, light)."""
    datas = [o.data for o in objs if o.data is not None]
    for obj in objs:
        bpy.data.objects.remove(obj, do_unlink=True)
    orphans = [d for d in datas if d.users == 0]
    if orphans:
        bpy.data.batch_remove(orphans)


def shot_dir_of(scene: Any) -> str:
    """The shot folder a shot's scene was built for ("" for any other scene)."""
    return str(scene.get(SHOT_PROP) or "") if scene is not None else ""


def _norm(shot_dir: str | os.PathLike[str]) -> str:
    return os.path.normpath(os.path.abspath(str(shot_dir)))


def scene_of(shot_dir: str | os.PathLike[str], exclude: Any = None) -> Any:
    """The scene holding this shot (stamped with its folder), or None."""
    want = _norm(shot_dir)
    for sc in bpy.data.scenes:
        if sc is not exclude and shot_dir_of(sc) and _norm(shot_dir_of(sc)) == want:
            return sc
    return None


def scene_name(shot_dir: str | os.PathLike[str]) -> str:
    return SCENE_PREFIX + os.path.basename(_norm(shot_dir))


def _snapshot() -> dict[str, set[Any]]:
    return {kind: set(getattr(bpy.data, kind)) for kind in _ID_KINDS}


def _created_since(before: dict[str, set[Any]]) -> list[Any]:
    return [id_ for kind in _ID_KINDS for id_ in getattr(bpy.data, kind) if id_ not in before[kind]]


def _show(old: Any, new: Any) -> None:
    """Windows that showed ``old`` show ``new`` (a scene can't be removed while shown)."""
    wm = bpy.context.window_manager
    for window in (wm.windows if wm is not None else []):
        if window.scene == old:
            window.scene = new


@contextlib.contextmanager
def building(shot_dir: str | os.PathLike[str], settings_from: Any = None) -> Iterator[Any]:
    """Yield a fresh scene to build the shot in; commit it on success, remove it on failure.

    On success the shot's previous scene (if any) is removed, windows that showed it show
    the new one, and the new scene takes the name ``Vanelia <shot folder name>``. The
    Vanelia settings of ``settings_from`` (the scene the artist filled in) are copied so
    the panel shows the same inputs in the shot's scene.
    """
    before = _snapshot()
    new = bpy.data.scenes.new(scene_name(shot_dir) + " (building)")
    try:
        new[SHOT_PROP] = _norm(shot_dir)
        yield new
    except BaseException:
        _show(new, settings_from if settings_from is not None else next((s for s in bpy.data.scenes if s != new), new))
        created = [i for i in _created_since(before) if i != new]
        bpy.data.scenes.remove(new)
        if created:
            bpy.data.batch_remove(created)
        raise
    old = scene_of(shot_dir, exclude=new)
    if settings_from is not None:
        copy_settings(settings_from, new)
    if old is not None:
        _show(old, new)
        remove_scene(old)
    new.name = scene_name(shot_dir)


def remove_scene(scene: Any) -> None:
    """Remove a shot's scene with the objects only it used (lights, camera, product, ground)."""
    own = [o for o in scene.objects if len(o.users_scene) == 1]
    compositor = getattr(scene, "compositing_node_group", None)
    bpy.data.scenes.remove(scene)
    remove_objects(own)
    if compositor is not None and compositor.users == 0:
        bpy.data.node_groups.remove(compositor)


def copy_settings(src: Any, dst: Any) -> None:
    """Copy the artist's inputs (``scene.vanelia``) from one scene to another."""
    a, b = getattr(src, "vanelia", None), getattr(dst, "vanelia", None)
    if a is None or b is None or a == b:
        return
    for prop in a.bl_rna.properties:
        key = prop.identifier
        if key in ("rna_type", "name") or prop.is_readonly:
            continue
        try:
            setattr(b, key, getattr(a, key))
        except (AttributeError, TypeError, ValueError):
            pass
