"""The one grid/anchor spec shared by the target encoder, the model head and the decoder.

The model input (``input_width`` x ``input_height`` pixels, after letterbox resizing) is cut into
non-overlapping cells of ``stride`` pixels: ``grid_h x grid_w`` cells, flattened row-major to
``S = grid_h * grid_w`` (cell s = row * grid_w + col). Each cell holds ``A`` anchor nodes at fixed positions
``anchors[a] = (u, v)`` in cell units (0..1, x right, y down) inside the cell.

Point convention ("cell units"): a point p in input pixels is expressed relative to the origin of cell s as
``(p - cell_origin[s]) / stride``. The head predicts, per anchor, an offset from the anchor normalised by the
cell size; it adds the anchor position in-graph, so its ``points`` output is already in cell units
(``anchor + offset``). Ground truth ``gt_point[s]`` is the reference point in cell units of cell s; the
per-anchor target offset is therefore ``gt_point[s] - anchors[a]``. The reference point may lie outside
its cell (a large sign regresses the same point from every cell it covers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Centre and four inner points (the method's FIG. 8).
DEFAULT_ANCHORS: tuple[tuple[float, float], ...] = (
    (0.5, 0.5),
    (0.25, 0.25),
    (0.75, 0.25),
    (0.25, 0.75),
    (0.75, 0.75),
)


@dataclass(frozen=True)
class GridSpec:
    input_height: int = 320
    input_width: int = 512
    stride: int = 8
    anchors: tuple[tuple[float, float], ...] = DEFAULT_ANCHORS
    num_classes: int = 7  # M, including background (class 0)

    def __post_init__(self):
        if self.stride <= 0 or self.input_height % self.stride or self.input_width % self.stride:
            raise ValueError(
                f"input size {self.input_width}x{self.input_height} must be a positive multiple of "
                f"stride {self.stride}"
            )
        if not self.anchors or any(not (0 <= u <= 1 and 0 <= v <= 1) for u, v in self.anchors):
            raise ValueError(f"anchors must be (u, v) pairs in [0, 1] cell units, got {self.anchors}")
        if self.num_classes < 2:
            raise ValueError("num_classes counts background plus at least one landmark class")
        # tuples survive JSON/YAML round trips as lists: normalise so equality holds
        object.__setattr__(self, "anchors", tuple((float(u), float(v)) for u, v in self.anchors))

    @property
    def grid_h(self) -> int:
        return self.input_height // self.stride

    @property
    def grid_w(self) -> int:
        return self.input_width // self.stride

    @property
    def num_cells(self) -> int:
        """S."""
        return self.grid_h * self.grid_w

    @property
    def num_anchors(self) -> int:
        """A."""
        return len(self.anchors)

    def anchor_array(self) -> np.ndarray:
        """float32 [A, 2] anchor positions in cell units."""
        return np.asarray(self.anchors, dtype=np.float32)

    def cell_origins(self) -> np.ndarray:
        """float32 [S, 2] top-left pixel (x, y) of each cell, row-major."""
        rows, cols = np.meshgrid(np.arange(self.grid_h), np.arange(self.grid_w), indexing="ij")
        return (np.stack([cols.ravel(), rows.ravel()], axis=-1) * self.stride).astype(np.float32)

    def anchor_pixels(self) -> np.ndarray:
        """float32 [S, A, 2] anchor positions in input pixels."""
        return self.cell_origins()[:, None, :] + self.anchor_array()[None, :, :] * self.stride

    def to_pixels(self, points_cell_units) -> np.ndarray:
        """Cell units [..., S, (A,) 2] -> input pixels, same shape."""
        p = np.asarray(points_cell_units, dtype=np.float32)
        origins = self.cell_origins()
        if p.ndim >= 3 and p.shape[-3] == self.num_cells:  # [..., S, A, 2]
            origins = origins[:, None, :]
        return p * self.stride + origins

    def to_cell_units(self, points_px, cells) -> np.ndarray:
        """Input pixels [N, 2] -> cell units relative to the given cell indices [N]."""
        return (np.asarray(points_px, np.float32) - self.cell_origins()[np.asarray(cells)]) / self.stride

    def to_json(self) -> dict:
        return {
            "input_height": self.input_height,
            "input_width": self.input_width,
            "stride": self.stride,
            "anchors": [list(a) for a in self.anchors],
            "num_classes": self.num_classes,
        }

    @classmethod
    def from_json(cls, d: dict) -> GridSpec:
        return cls(
            int(d["input_height"]),
            int(d["input_width"]),
            int(d["stride"]),
            tuple(tuple(a) for a in d["anchors"]),
            int(d["num_classes"]),
        )
