"""`vanelia track`: solve the camera of a plate -> transforms.json (app.track does the work).

Writes a NeRF-style transforms.json (intrinsics, distortion, OpenGL camera-to-world per
frame, plus `qc` and `ground`) that `vanelia render --camera` and `vanelia run --camera` read.
"""
from __future__ import annotations

from pathlib import Path

from app.track import track_plate
from shotcache.camera_ground import KNOWN_SIZE_HELP, TYPICAL_CAMERA_HEIGHT_M
from shotcache.frames import parse_frame_range
from shotcache.schema import TRACKERS


def add_parser(sub) -> None:
    p = sub.add_parser("track", help="solve the camera of a plate -> transforms.json")
    p.add_argument("--input", required=True, type=Path, help="plate video or folder of frames")
    p.add_argument("--output", required=True, type=Path, help="transforms.json to write")
    p.add_argument("--tracker", choices=TRACKERS, default="auto",
                   help="auto: video tracks + COLMAP's mapper for a continuous clip, Blender's tracker when that solve is weak or upside down, COLMAP on SIFT matches for stills; blender: Blender's tracker only")
    p.add_argument("--focal-mm", type=float, default=None, help="known focal length (36 mm sensor width); refined when absent")
    p.add_argument("--frames", default=None, help="A:B frame range")
    p.add_argument("--camera-height", type=float, default=None,
                   help=f"camera height above the ground in metres: the scene's scale (default: a typical "
                        f"{TYPICAL_CAMERA_HEIGHT_M:g} m unless --known-size)")
    p.add_argument("--known-size", default=None, metavar="X1,Y1,X2,Y2=METRES[@FRAME]",
                   help=f"scale from a known size instead: {KNOWN_SIZE_HELP}")
    p.add_argument("--max-image-size", type=int, default=1280)
    p.add_argument("--place", default=None, help="also choose a product placement: bottom_right|center|...|x,y")
    p.add_argument("--masks", type=Path, default=None, help="folder of moving-object masks (white), one per frame")
    p.add_argument("--no-auto-masks", dest="auto_masks", action="store_false",
                   help="without --masks, do not mask what moves on its own automatically (flow the camera cannot explain)")
    p.set_defaults(func=run)


def run(args) -> int:
    track_plate(args.input, args.output, args.tracker, args.focal_mm, parse_frame_range(args.frames), args.camera_height,
                args.max_image_size, args.place, masks=args.masks, auto_masks=args.auto_masks, known_size=args.known_size)
    return 0
