"""`vanelia render`: build a shot cache headless (app.blender.run_batch runs the Blender step)."""
from __future__ import annotations

import argparse
from pathlib import Path

from app import preflight
from app.blender import PREFIX, run_batch
from app.light_render import LIGHT_CHOICES
from shotcache.key_pick import FORMAT as KEY_PICK_FORMAT, HELP as KEY_PICK_HELP
from shotcache.schema import GROUND_COVER_HELP, check_cover_m

# ---------------------------------------------------------------------------
# vanelia render
# ---------------------------------------------------------------------------


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="build a shot cache: plate + camera track + product -> EXR passes",
        description="Decode the plate, bake the camera track, place the product and render its passes "
        "(Cycles) into SHOT/render/NNNNNN.exr. Re-runs render only frames whose inputs changed.",
    )
    p.add_argument("--plate", required=True, help="video file or folder of images")
    p.add_argument("--model", required=True, help="product .glb")
    p.add_argument("--camera", required=True, help="camera track: transforms.json or COLMAP text model folder")
    p.add_argument("--shot", required=True, help="shot folder to create or update")
    p.add_argument("--frames", help="A:B, inclusive plate frame range")
    p.add_argument("--resolution", help="WxH (same aspect as the plate)")
    p.add_argument("--samples", type=int, help="Cycles samples (default 32)")
    p.add_argument("--passes", help="comma-separated passes (default: all of rgba,normal,albedo,depth,position,shadow_catcher)")
    p.add_argument("--ground", help="ground plane 'px,py,pz,nx,ny,nz' (default: from the track's points, else z=0)")
    p.add_argument("--product-size", type=float, help="largest product dimension in metres")
    p.add_argument("--product-matrix", help="product matrix_world: 16 comma-separated numbers (row-major 4x4) or a .json "
                   "file holding a 4x4 list, e.g. qc.placement.matrix_world of `vanelia track --place`; "
                   "with --product-size its scale is replaced to give that size")
    p.add_argument("--light-dir", help="key light direction 'x,y,z' (default: estimated from the plate)")
    p.add_argument("--key-from-shadow", metavar=KEY_PICK_FORMAT, help=KEY_PICK_HELP)
    p.add_argument("--motion-blur", default="auto", metavar="auto|off|SHUTTER",
                   help="camera motion blur: auto (default: the shutter measured from the plate's own motion blur; off "
                        "with --light legacy), off, or a shutter in frames (0.5 = 180 degrees)")
    p.add_argument("--light", choices=LIGHT_CHOICES, default="plate",
                   help="plate: environment + key light estimated from the footage (default); legacy: plate mean + a sun "
                        "through the brightest block; shot: the light the shot folder records (edited in the panel)")
    p.add_argument("--camera-height", type=float, help="metres: the scale of an imported track without points or ground "
                   "(default: a typical camera height, 1.5 m)")
    p.add_argument("--ground-cover", type=float, default=None, metavar="METRES",
                   help=GROUND_COVER_HELP + " (default: what the shot folder records, else bare ground)")
    p.add_argument("--undistort", action="store_true", help="undistort the plate with the track's lens coefficients")
    p.add_argument("--force", action="store_true", help="re-render every frame")
    p.add_argument("--blend", help="also save the set-up scene as this .blend")
    p.add_argument("--blender", help="Blender binary to run (default: the bpy module of this Python)")
    p.set_defaults(func=_run)


def render_args(a: argparse.Namespace) -> list[str]:
    args = ["--plate", str(a.plate), "--model", str(a.model), "--camera", str(a.camera), "--shot", str(a.shot)]
    for flag, key in (("--frames", "frames"), ("--resolution", "resolution"), ("--samples", "samples"), ("--passes", "passes"),
                      ("--ground", "ground"), ("--product-size", "product_size"), ("--product-matrix", "product_matrix"),
                      ("--light-dir", "light_dir"), ("--key-from-shadow", "key_from_shadow"), ("--blend", "blend"),
                      ("--camera-height", "camera_height")):
        val = getattr(a, key, None)
        if val is not None:
            args.append(f"{flag}={val}")  # '=' form: values such as '-0.2,0.6,0.7' start with '-'
    for flag, key in (("--undistort", "undistort"), ("--force", "force")):
        if getattr(a, key, False):
            args.append(flag)
    return args


def _run(a: argparse.Namespace) -> int:
    from app.light_render import parse_motion_blur, recorded_light, render_shot_lit

    shutter = parse_motion_blur(a.motion_blur)
    preflight.check_model(Path(a.model))  # the files first: Blender's decode and import take long
    facts = preflight.probe_plate(Path(a.plate), "--plate")
    preflight.check_key_options(a.light_dir, a.key_from_shadow, facts, light=a.light)
    preflight.check_camera(Path(a.camera))
    if a.light == "shot":
        recorded_light(Path(a.shot))

    cover = None if a.ground_cover is None else check_cover_m(a.ground_cover, f"--ground-cover {a.ground_cover}")
    render_shot_lit(render_args(a), Path(a.shot), light=a.light, blender=a.blender, motion_blur=shutter, ground_cover=cover)
    print(f"{PREFIX} shot cache ready: {Path(a.shot).resolve()}", flush=True)
    return 0
