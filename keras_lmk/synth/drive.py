"""Generate a synthetic drive on disk, and the cached default set that training reads.

Layout of a drive folder::

    images/000000.jpg ...   rendered frames (video=True: drive.avi instead, one MJPG video, frame k = image k)
    camera.json             intrinsics and mount (keras_lmk.geometry.camera)
    poses.json              one vehicle pose per frame
    map.json                the 3D landmark map (keras_lmk.geometry.map_ground_truth)
    annotations.json        COCO keypoints, made by projecting map.json per frame (map_gt.frame_ground_truth)

Everything is a function of (frames, seed, width, height, clean): the same arguments give the same bytes
(the images; the video's bytes depend on OpenCV's MJPG encoder and its default quality).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from keras_lmk.data.taxonomy import Taxonomy, load_taxonomy
from keras_lmk.geometry.camera import Camera, Mount, save_camera, save_poses
from keras_lmk.geometry.map_ground_truth import frame_ground_truth, save_map
from keras_lmk.synth.render import VIEW_DISTANCE, Conditions, render_frame, sample_conditions
from keras_lmk.synth.road import drive
from keras_lmk.synth.world import build_world

# bump when the output of a given seed changes: it names the cache folder. 2: smooth vehicle speed (1 drew
# each frame's step on its own: accelerations of several g); 3: visible landmarks whose point left the frame
# or under 2 px on a side are ignore regions (iscrowd) instead of dropped; 4: a marking's point is its
# outline's near right corner (was its nearest-then-rightmost paint vertex)
GENERATOR_VERSION = 4
STEP_M = 2.6  # metres driven between frames, on average
CONDITION_FRAMES = 25  # frames sharing one lighting/weather draw
MAX_RANGE_M = 80.0
MIN_SIZE_PX = 4.0


def make_camera(width: int, height: int, rng: np.random.Generator) -> Camera:
    """Windscreen camera: 55-70 degree horizontal FOV, 1.25-1.5 m high, tilted slightly down."""
    mount = Mount(
        x=1.8,
        y=0.0,
        z=float(rng.uniform(1.25, 1.5)),
        roll=0.0,
        pitch=float(rng.uniform(0.0, 0.05)),
        yaw=float(rng.uniform(-0.02, 0.02)),
    )
    return Camera.from_fov(width, height, float(rng.uniform(55, 70)), mount=mount, near=0.3)


def generate_drive(
    out_dir: str | Path,
    frames: int,
    seed: int,
    width: int = 640,
    height: int = 360,
    *,
    clean: bool = False,
    taxonomy: Taxonomy | None = None,
    progress: bool = False,
    video: bool = False,
) -> Path:
    """Render ``frames`` frames of a drive into ``out_dir`` (see module docstring); returns out_dir.

    clean=True renders noon, dry, sharp, noiseless frames (JPEG quality 100). video=True writes the frames
    as ``drive.avi`` (MJPG, 10 frames/s) instead of ``images/``, like a dashcam recording; the annotations'
    image entries are then the video's frames in order (``evaluate --data DIR`` and ``localize --drive DIR``
    read it as it is)."""
    from keras_lmk.data.coco import write_coco

    if frames < 1 or width < 16 or height < 16:
        raise ValueError(
            f"need frames >= 1 and an image of at least 16x16, got {frames} frames {width}x{height}"
        )
    taxonomy = taxonomy or load_taxonomy()
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    writer = None
    if video:
        (out / "images").rmdir()
        movie = out / "drive.avi"
        writer = cv2.VideoWriter(str(movie), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (width, height))
        if not writer.isOpened():
            raise RuntimeError(f"{movie}: OpenCV cannot write MJPG video")
    rng = np.random.default_rng([seed, 0])
    camera = make_camera(width, height, rng)
    world = build_world(10 + frames * STEP_M * 1.3 + VIEW_DISTANCE + 40, seed, taxonomy=taxonomy)
    poses, _ = drive(world.road, frames, rng, step=STEP_M)
    records = []
    it = range(frames)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc=f"synth {out.name}", unit="frame")
    cond = Conditions.clean()
    for i in it:
        if not clean and i % CONDITION_FRAMES == 0:
            cond = sample_conditions(np.random.default_rng([seed, 3, i]))
        img = render_frame(world, camera, poses[i], cond, rng=np.random.default_rng([seed, 2, i]))
        if writer is not None:
            writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            path = movie
        else:
            quality = 100 if clean else cond.jpeg_quality
            ok, buf = cv2.imencode(
                ".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
            )
            if not ok:
                raise RuntimeError("JPEG encoding failed")
            path = out / "images" / f"{i:06d}.jpg"
            path.write_bytes(buf.tobytes())
        records.append(
            frame_ground_truth(
                world.map,
                camera,
                poses[i],
                max_range=MAX_RANGE_M,
                min_size_px=MIN_SIZE_PX,
                image_path=str(path.resolve()),
                image_id=i + 1,
                taxonomy=taxonomy,
            )
        )
    if writer is not None:
        writer.release()
    save_camera(camera, out / "camera.json")
    save_poses(poses, out / "poses.json")
    save_map(world.map, out / "map.json")
    write_coco(records, taxonomy, out / "annotations.json", image_root=out)
    return out


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, else $KERAS_LMK_CACHE, else ~/.cache/keras_lmk."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("KERAS_LMK_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "keras_lmk"


def default_synthetic_set(
    cache_dir: str | Path | None = None,
    frames: int = 1200,
    seed: int = 0,
    width: int = 640,
    height: int = 360,
    *,
    progress: bool = True,
) -> Path:
    """Folder of the drive for these parameters, generated on first use into the cache and reused after.

    Generation writes a hidden temp folder and renames it into place, so an interrupted run leaves no
    half-written set behind."""
    root = cache_root(cache_dir)
    final = root / f"synth-v{GENERATOR_VERSION}-f{frames}-s{seed}-{width}x{height}"
    if (final / "annotations.json").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    try:
        generate_drive(tmp, frames, seed, width, height, progress=progress)
        if final.exists():  # an incomplete leftover (no annotations.json) or a concurrent winner
            if (final / "annotations.json").is_file():
                shutil.rmtree(tmp)
                return final
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
