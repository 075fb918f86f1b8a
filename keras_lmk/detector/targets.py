"""Grid/anchor target encoding: landmarks of one image -> per-cell training targets (numpy, pure).

Inputs are in model-input pixels (after letterboxing), x right, y down; boxes are ``[x0, y0, x1, y1]``.
Outputs follow :mod:`keras_lmk.detector.grid`: S = grid_h * grid_w cells, row-major, and points in *cell
units*
``(p - cell_origin[s]) / stride``::

    spec = GridSpec(input_height=320, input_width=512, stride=8)
    t = encode_targets(spec, boxes, points, classes, rng=np.random.default_rng(0))
    t["gt_class"]  # int32 [S]: 0 = background, else the landmark class of the cell
    t["gt_point"]  # float32 [S, 2]: reference point in cell units of that cell (0 in background cells)
    t["cls_mask"]  # float32 [S]: 1 = cell enters the classification loss

Per-anchor regression targets are ``gt_point[s] - anchors[a]`` (the model adds the anchors itself); the loss
compares the head's ``points`` output (already anchor + offset, cell units) with ``gt_point`` directly.
"""

from __future__ import annotations

import numpy as np

from keras_lmk.detector.grid import GridSpec

MAX_POINT_PX = 1e6  # the decoder bounds regressed points the same way


def _axis_cells(lo: np.ndarray, hi: np.ndarray, stride: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last index of the cells whose centre c = (i + 0.5) * stride satisfies lo <= c < hi.

    lo, hi: float [N] pixels along one axis. Returns int [N] (first, last); first > last when none.
    """
    first = np.ceil(lo / stride - 0.5).astype(np.int64)
    last = np.ceil(hi / stride - 0.5).astype(np.int64) - 1
    return np.maximum(first, 0), np.minimum(last, n - 1)


def landmark_cell_mask(spec: GridSpec, boxes) -> np.ndarray:
    """Which cells each box covers: bool [N, S].

    boxes: float [N, 4] xyxy, model-input pixels, already clipped to the input and non-degenerate.
    A box covers every cell whose centre lies inside it (half-open: ``x0 <= cx < x1``, same in y) and,
    always, the cell containing the box centre, so a sign smaller than a cell still gets one cell. Usually
    the centre cell is among the covered ones already; when the box centre lies exactly on a cell border it
    may not be (box [12, 12, 20, 20] at stride 8 covers cell (1, 1) by its centre and gets cell (2, 2) as
    its centre cell), and then the covered cells are not a rectangle.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    gh, gw, s = spec.grid_h, spec.grid_w, spec.stride
    c0, c1 = _axis_cells(boxes[:, 0], boxes[:, 2], s, gw)
    r0, r1 = _axis_cells(boxes[:, 1], boxes[:, 3], s, gh)
    cols, rows = np.arange(gw), np.arange(gh)
    in_x = (cols[None, :] >= c0[:, None]) & (cols[None, :] <= c1[:, None])  # [N, gw]
    in_y = (rows[None, :] >= r0[:, None]) & (rows[None, :] <= r1[:, None])  # [N, gh]
    mask = in_y[:, :, None] & in_x[:, None, :]  # [N, gh, gw]

    # the centre cell; clipping keeps a centre lying exactly on the right/bottom input edge in the grid
    cc = np.clip(np.floor((boxes[:, 0] + boxes[:, 2]) / 2 / s).astype(np.int64), 0, gw - 1)
    rc = np.clip(np.floor((boxes[:, 1] + boxes[:, 3]) / 2 / s).astype(np.int64), 0, gh - 1)
    mask[np.arange(len(boxes)), rc, cc] = True
    return mask.reshape(len(boxes), gh * gw)


def _clean_boxes(spec: GridSpec, boxes, points, classes):
    """Validate inputs, clip boxes to the input and drop boxes that are outside or degenerate."""
    boxes = np.asarray(boxes, np.float64)
    points = np.asarray(points, np.float64)
    classes = np.asarray(classes)
    n = classes.reshape(-1).shape[0]
    if boxes.size != 4 * n or points.size != 2 * n:
        raise ValueError(
            f"need boxes [N, 4], points [N, 2], classes [N]; got shapes {boxes.shape}, {points.shape}, "
            f"{classes.shape}"
        )
    boxes, points, classes = boxes.reshape(n, 4), points.reshape(n, 2), classes.reshape(n).astype(np.int64)
    # a NaN would silently drop or misplace a landmark: report it instead
    if not (np.isfinite(boxes).all() and np.isfinite(points).all()):
        raise ValueError("boxes and points must be finite")
    if n and np.abs(points).max() > MAX_POINT_PX:  # would overflow float32 cell units; never a real label
        raise ValueError(f"reference points must lie within +-{MAX_POINT_PX:g} px, got {points.tolist()}")
    if n and (classes.min() < 0 or classes.max() >= spec.num_classes):
        raise ValueError(
            f"landmark classes must be in 1..{spec.num_classes - 1} (0: ignore region), "
            f"got {np.unique(classes)}"
        )
    limits = np.array([spec.input_width, spec.input_height] * 2, np.float64)
    clipped = np.clip(boxes, 0.0, limits)
    keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    return clipped[keep], points[keep], classes[keep]


def _near_point(spec: GridSpec, cover: np.ndarray, points: np.ndarray, radius: float):
    """Split each landmark's covered cells into those within ``radius`` px of its point and the rest.

    Returns (near [N, S], far_any [S]); every landmark keeps at least its covered cell nearest the point.
    """
    centres = spec.cell_origins().astype(np.float64) + spec.stride / 2.0
    dist = np.linalg.norm(centres[None, :, :] - points[:, None, :], axis=-1)  # [N, S]
    near = cover & (dist <= radius)
    nearest = np.argmin(np.where(cover, dist, np.inf), axis=1)
    near[np.arange(len(points)), nearest] |= cover[np.arange(len(points)), nearest]
    return near, (cover & ~near).any(axis=0)


def encode_targets(
    spec: GridSpec,
    boxes,
    points,
    classes,
    *,
    background_ratio: float | None = 1.0,
    min_background: int = 8,
    point_radius: float | None = None,
    far_cells: str = "ignore",
    mined_share: float = 0.0,
    rng: np.random.Generator | int,
) -> dict[str, np.ndarray]:
    """Per-cell class, reference point and classification mask of one image.

    Args:
      spec: the shared grid spec.
      boxes: float [N, 4] xyxy, model-input pixels. Boxes are clipped to the input first; a box entirely
        outside the input or with zero width/height is ignored.
      points: float [N, 2] reference points (x, y), model-input pixels; may lie outside the box or input.
      classes: int [N] landmark class ids in 1..M-1, or 0 for an *ignore region*: a landmark cut by the
        image edge (see ``keras_lmk.training.augment.clip_and_drop``) whose cells are neither landmark nor
        background.
      background_ratio: background cells to sample per landmark cell: ``round(ratio * n_landmark_cells)``
        (Python ``round``), at least ``min_background``, at most all non-landmark cells. ``None`` or a
        negative value selects every background cell (the unbalanced ablation).
      min_background: lower bound on sampled background cells (an image without landmarks still trains
        the background class).
      point_radius: None: a landmark holds every cell of its box (the method as written). A radius in
        model-input px: it holds only the box's cells whose centre lies within that distance of its reference
        point (always at least the covered cell nearest to the point); its other cells are *ignored*, neither
        landmark nor background. A large road marking then no longer makes hundreds of cells regress a point
        20+ cells away, which dominated the localization loss on real markings (docs/history.md).
      far_cells: what the cells of a box farther than ``point_radius`` become. ``"ignore"``: neither landmark
        nor background (untrained, so at inference they may fire anywhere on a large marking).
        ``"background"``: background cells sampled *first* (hard negatives: paint or a sign face away from
        the reference point), up to the balanced count, the rest at random; the detector then learns to fire
        only near the point.
      mined_share: share of the balanced background count left to the loss to choose as the image's
        *highest-loss* background cells (online hard-negative mining; ``keras_lmk.detector.losses``): only
        ``n_bg - round(mined_share * n_bg)`` cells are sampled here, and the outputs ``mine_pool`` (the free
        cells not sampled) and ``mine_count`` (how many the loss adds from it) are returned. 0: off.
      rng: numpy Generator (or int seed) used for background sampling; same seed, same cells.

    Returns:
      ``gt_class`` int32 [S] (0 = background); ``gt_point`` float32 [S, 2] the reference point in cell
      units of that cell, ``(p - cell_origin) / stride`` (may lie outside [0, 1]; 0 in background cells);
      ``cls_mask`` float32 [S], 1 for every landmark cell and every sampled background cell; with
      ``mined_share`` > 0 also ``mine_pool`` float32 [S] and ``mine_count`` float32 [] (see above).

    Cell assignment: a landmark covers the cells whose centre lies inside its clipped box, plus always the
    cell containing the box centre (see :func:`landmark_cell_mask`); every covered cell regresses the same
    reference point. When several landmarks cover one cell, the one with the smaller clipped box area wins
    (it has fewer cells to lose), ties going to the lower annotation index. The result does not depend on
    ``rng`` except for which background cells are sampled.
    """
    if far_cells not in ("ignore", "background"):
        raise ValueError(f"far_cells must be 'ignore' or 'background', got {far_cells!r}")
    if not 0 <= mined_share <= 1:
        raise ValueError(f"mined_share must be in [0, 1], got {mined_share}")
    boxes, points, classes = _clean_boxes(spec, boxes, points, classes)
    ignored = np.zeros((spec.num_cells,), bool)
    if (classes == 0).any():  # ignore regions: their cells are never sampled as background
        ignored = landmark_cell_mask(spec, boxes[classes == 0]).any(axis=0)
        boxes, points, classes = boxes[classes > 0], points[classes > 0], classes[classes > 0]
    num_cells = spec.num_cells
    gt_class = np.zeros((num_cells,), np.int32)
    gt_point = np.zeros((num_cells, 2), np.float32)

    if len(boxes):
        cover = landmark_cell_mask(spec, boxes)  # [N, S]
        if point_radius is not None:
            cover, far = _near_point(spec, cover, points, point_radius)
            if far_cells == "ignore":
                ignored |= far
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        order = np.lexsort((np.arange(len(boxes)), area))  # by area, then by index
        cover_sorted = cover[order]
        cells = np.flatnonzero(cover_sorted.any(axis=0))
        winner = order[np.argmax(cover_sorted[:, cells], axis=0)]  # first True = smallest box
        gt_class[cells] = classes[winner]
        gt_point[cells] = (points[winner] - spec.cell_origins()[cells]) / spec.stride

    is_landmark = gt_class > 0
    cls_mask = is_landmark.astype(np.float32)
    free = ~is_landmark & ~ignored
    background = np.flatnonzero(free)
    n_mined = 0
    if background_ratio is None or background_ratio < 0:
        cls_mask[background] = 1.0
    else:
        n_bg = max(round(background_ratio * int(is_landmark.sum())), int(min_background))
        n_bg = min(n_bg, len(background))
        n_mined = round(mined_share * n_bg)
        n_sampled = n_bg - n_mined
        if n_sampled:
            rng = np.random.default_rng(rng)
            hard = np.zeros(0, np.int64)
            if point_radius is not None and far_cells == "background" and len(boxes):
                hard = np.flatnonzero(far & free)
                hard = rng.choice(hard, size=min(n_sampled, len(hard)), replace=False)
                cls_mask[hard] = 1.0
            rest = np.flatnonzero(free & (cls_mask == 0))
            cls_mask[rng.choice(rest, size=n_sampled - len(hard), replace=False)] = 1.0
    out = {"gt_class": gt_class, "gt_point": gt_point, "cls_mask": cls_mask}
    if mined_share > 0:
        out["mine_pool"] = (free & (cls_mask == 0)).astype(np.float32)
        out["mine_count"] = np.float32(n_mined)
    return out
