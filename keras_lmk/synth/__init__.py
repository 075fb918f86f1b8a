"""Built-in synthetic drives: a procedural 3D road world rendered through the camera model.

    python -m keras_lmk.synth --out DIR --frames 200 --seed 1 [--width 640 --height 360] [--clean]

Python: :func:`keras_lmk.synth.drive.generate_drive` writes a drive folder;
:func:`keras_lmk.synth.drive.default_synthetic_set` generates one into the user cache once and reuses it;
:func:`keras_lmk.synth.world.build_world` + :func:`keras_lmk.synth.render.render_frame` render single frames.
"""
