"""Pinhole camera (OpenCV distortion model), its mounting on the vehicle, and vehicle poses in the world.

Frames (metres, radians, right-handed; see docs/data.md):

- world: x east, y north, z up.
- vehicle: x forward, y left, z up; origin on the ground under the vehicle reference point.
  ``Pose(x, y, z, yaw, pitch, roll)`` places it in the world with ``R_wv = Rz(yaw) @ Ry(pitch) @ Rx(roll)``:
  yaw counter-clockwise from east, positive pitch = nose down, positive roll = right side down.
- camera (OpenCV optical frame): x right, y down, z forward (optical axis). ``Mount(x=, y=, z=, yaw=, pitch=,
  roll=)`` is the camera pose in the vehicle frame; with zero angles the camera looks along vehicle x, and the
  angles rotate it with the same Rz @ Ry @ Rx rule as the vehicle (positive mount pitch tilts it down).

A world point maps to the camera by ``p_cam = R @ p_world + t`` (:meth:`Camera.world_to_camera`), then to
pixels (x right, y down) by the pinhole + distortion model of ``cv2.projectPoints``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from keras_lmk.atomic import atomic_write_json

# Camera optical axes expressed in the vehicle frame: x_cam = -y_veh, y_cam = -z_veh, z_cam = x_veh.
R_VEHICLE_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


class GeometryError(ValueError):
    """A camera, pose or map value is unusable; the message names the file (if any) and the field."""


def _finite(value, what: str, source: str | None) -> float:
    where = f"{source}: " if source else ""
    try:
        v = float(value)
    except (TypeError, ValueError) as e:
        raise GeometryError(f"{where}{what} must be a number, got {value!r}") from e
    if not math.isfinite(v):
        raise GeometryError(f"{where}{what} must be finite, got {v}")
    return v


def rotation_zyx(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``Rz(yaw) @ Ry(pitch) @ Rx(roll)``: float [3, 3], maps body-frame vectors to the parent frame."""
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class Pose:
    """Vehicle pose in the world: position (m) and yaw, pitch, roll (rad), see module docstring."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0

    def __post_init__(self):
        for k, v in asdict(self).items():
            object.__setattr__(self, k, _finite(v, f"pose.{k}", None))

    @classmethod
    def from_json(cls, d: dict, source: str | None = None) -> Pose:
        return cls(**{k: _finite(d[k], f"pose.{k}", source) for k in ("x", "y", "z", "yaw", "pitch", "roll")})

    @property
    def rotation(self) -> np.ndarray:
        return rotation_zyx(self.yaw, self.pitch, self.roll)

    @property
    def position(self) -> np.ndarray:
        return np.array([self.x, self.y, self.z])


@dataclass(frozen=True, kw_only=True)
class Mount:
    """Camera pose in the vehicle frame: translation (m) and yaw, pitch, roll (rad), in :class:`Pose`'s
    order; keyword-only, so a positional roll can never land in yaw."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0

    @property
    def rotation(self) -> np.ndarray:
        """Optical-frame vectors -> vehicle frame."""
        return rotation_zyx(self.yaw, self.pitch, self.roll) @ R_VEHICLE_OPTICAL


class Projection(NamedTuple):
    """pixels: float [N, 2] (x right, y down; NaN where depth <= near); depth: float [N] camera z (m);
    distance: float [N] Euclidean distance to the camera centre (m); visible: bool [N]."""

    pixels: np.ndarray
    depth: np.ndarray
    distance: np.ndarray
    visible: np.ndarray


@dataclass(frozen=True)
class Camera:
    """Intrinsics (pixels), OpenCV distortion ``(k1, k2, p1, p2, k3)``, mount and near plane (m)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    dist: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)
    mount: Mount = field(default_factory=Mount)
    near: float = 0.1

    def __post_init__(self):
        self.validate()

    def validate(self, source: str | None = None) -> None:
        where = f"{source}: " if source else ""
        for k in ("fx", "fy", "cx", "cy", "near"):
            _finite(getattr(self, k), f"camera.{k}", source)
        if self.fx <= 0 or self.fy <= 0:
            raise GeometryError(f"{where}focal length must be positive, got fx={self.fx}, fy={self.fy}")

        def whole(v) -> bool:  # int(inf) and int("640") would raise other errors than GeometryError
            if isinstance(v, bool) or not isinstance(v, int | float | np.number):
                return False
            return float(v).is_integer()

        if not (whole(self.width) and whole(self.height)) or self.width < 1 or self.height < 1:
            raise GeometryError(
                f"{where}image size must be positive integers, got {self.width}x{self.height}"
            )
        if self.near <= 0:
            raise GeometryError(f"{where}camera.near must be positive, got {self.near}")
        if len(self.dist) != 5:
            raise GeometryError(
                f"{where}camera.dist must hold 5 values (k1, k2, p1, p2, k3), got {self.dist}"
            )
        for i, v in enumerate(self.dist):
            _finite(v, f"camera.dist[{i}]", source)
        for k, v in asdict(self.mount).items():
            _finite(v, f"camera.mount.{k}", source)

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float, **kw) -> Camera:
        """Square pixels, principal point at the image centre, horizontal field of view in degrees."""
        if not 0 < hfov_deg < 180:
            raise GeometryError(f"horizontal field of view must be in (0, 180) degrees, got {hfov_deg}")
        f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
        return cls(f, f, width / 2, height / 2, int(width), int(height), **kw)

    @property
    def K(self) -> np.ndarray:  # noqa: N802 (the usual name)
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def world_to_camera(self, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
        """``(R [3, 3], t [3])`` with ``p_cam = R @ p_world + t``."""
        r_wv, t_wv = pose.rotation, pose.position
        r_wc = r_wv @ self.mount.rotation
        c_w = t_wv + r_wv @ np.array([self.mount.x, self.mount.y, self.mount.z])
        r = r_wc.T
        return r, -r @ c_w

    def center(self, pose: Pose) -> np.ndarray:
        """Camera centre in the world, float [3]."""
        r, t = self.world_to_camera(pose)
        return -r.T @ t

    def camera_to_pixels(self, points_cam) -> np.ndarray:
        """Pixels float [N, 2] of camera-frame points [N, 3] with z > 0 (no visibility test)."""
        p = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
        x, y = p[:, 0] / p[:, 2], p[:, 1] / p[:, 2]
        k1, k2, p1, p2, k3 = self.dist
        if any(self.dist):
            r2 = x * x + y * y
            radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            x, y = (
                x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y,
            )
        return np.stack([self.fx * x + self.cx, self.fy * y + self.cy], axis=-1)

    def project(self, points_world, pose: Pose, *, max_range: float = math.inf) -> Projection:
        """Project world points float [N, 3] (m). Visible: depth > near, distance <= max_range, and the pixel
        inside the image ``0 <= x < width, 0 <= y < height``."""
        p = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
        r, t = self.world_to_camera(pose)
        pc = p @ r.T + t
        depth = pc[:, 2]
        distance = np.linalg.norm(pc, axis=1)
        front = depth > self.near
        pixels = np.full((len(p), 2), np.nan)
        if front.any():
            pixels[front] = self.camera_to_pixels(pc[front])
        with np.errstate(invalid="ignore"):
            inside = (
                (pixels[:, 0] >= 0)
                & (pixels[:, 0] < self.width)
                & (pixels[:, 1] >= 0)
                & (pixels[:, 1] < self.height)
            )
        return Projection(pixels, depth, distance, front & inside & (distance <= max_range))

    def to_json(self) -> dict:
        return {
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "width": self.width,
            "height": self.height,
            "dist": list(self.dist),
            "near": self.near,
            "mount": asdict(self.mount),
        }


def camera_from_json(data: dict, source: str = "<dict>") -> Camera:
    if not isinstance(data, dict) or not isinstance(data.get("mount", {}), dict):
        raise GeometryError(f"{source}: a camera is a JSON object (with a 'mount' object)")
    try:
        mount = Mount(
            **{k: _finite(v, f"camera.mount.{k}", source) for k, v in data.get("mount", {}).items()}
        )
        vals = {k: _finite(data[k], f"camera.{k}", source) for k in ("fx", "fy", "cx", "cy")}
        size = {k: data[k] for k in ("width", "height")}
        dist = tuple(_finite(v, "camera.dist", source) for v in data.get("dist", [0.0] * 5))
        near = _finite(data.get("near", 0.1), "camera.near", source)
    except KeyError as e:
        raise GeometryError(f"{source}: camera is missing {e.args[0]!r}") from e
    except TypeError as e:
        raise GeometryError(f"{source}: malformed camera ({e})") from e
    cam = object.__new__(Camera)  # validate with the file name in the message
    for k, v in {**vals, **size, "dist": dist, "mount": mount, "near": near}.items():
        object.__setattr__(cam, k, v)
    cam.validate(source)
    return cam


def _read_json(path: str | Path):
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise GeometryError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from e
    except UnicodeDecodeError as e:
        raise GeometryError(f"{path}: not UTF-8 text (byte {e.start})") from e


def load_camera(path: str | Path) -> Camera:
    """Read ``camera.json`` (see :meth:`Camera.to_json`)."""
    return camera_from_json(_read_json(path), str(path))


def save_camera(camera: Camera, path: str | Path) -> Path:
    return atomic_write_json(path, camera.to_json())


def load_poses(path: str | Path) -> list[Pose]:
    """Read ``poses.json``: a list, one ``{"frame", "x", "y", "z", "yaw", "pitch", "roll"}`` per frame."""
    data = _read_json(path)
    if not isinstance(data, list):
        raise GeometryError(f"{path}: poses must be a JSON list, got {type(data).__name__}")
    poses = []
    for i, d in enumerate(data):
        try:
            poses.append(Pose.from_json(d, f"{path}: frame {i}"))
        except (KeyError, TypeError) as e:
            raise GeometryError(f"{path}: frame {i}: malformed pose ({type(e).__name__}: {e})") from e
    return poses


def save_poses(poses: list[Pose], path: str | Path) -> Path:
    return atomic_write_json(path, [{"frame": i, **asdict(p)} for i, p in enumerate(poses)])
