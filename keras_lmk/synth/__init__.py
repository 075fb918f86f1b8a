"""Built-in synthetic drives: a procedural 3D road world rendered through the camera model.

    python -m keras_lmk.synth --out DIR --frames 200 --seed 1 [--width 640 --height 360] [--clean]

Python: :func:`generate_drive` writes a drive folder; :func:`default_synthetic_set` generates one into the
user cache once and reuses it; :func:`build_world` + :func:`render_frame` render single frames.
"""

from keras_lmk.synth.drive import cache_root, default_synthetic_set, generate_drive, make_camera
from keras_lmk.synth.render import Conditions, render_frame, sample_conditions
from keras_lmk.synth.world import World, build_world

__all__ = [
    "Conditions",
    "World",
    "build_world",
    "cache_root",
    "default_synthetic_set",
    "generate_drive",
    "make_camera",
    "render_frame",
    "sample_conditions",
]
