"""Target encoding on hand-built examples (numbers computed by hand in the comments)."""

import time

import numpy as np
import pytest

from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.targets import encode_targets, landmark_cell_mask

SPEC = GridSpec(input_height=64, input_width=128, stride=8, num_classes=4)  # 8 rows x 16 cols, S = 128


def encode(boxes, points, classes, spec=SPEC, **kw):
    kw.setdefault("rng", np.random.default_rng(0))
    return encode_targets(spec, np.float32(boxes), np.float32(points), np.int32(classes), **kw)


def cell(row, col, spec=SPEC):
    return row * spec.grid_w + col


def landmark_cells(t):
    return set(np.flatnonzero(t["gt_class"]).tolist())


def test_output_types_and_shapes():
    t = encode([[8, 8, 24, 24]], [[16, 16]], [1])
    assert t["gt_class"].dtype == np.int32 and t["gt_class"].shape == (SPEC.num_cells,)
    assert t["gt_point"].dtype == np.float32 and t["gt_point"].shape == (SPEC.num_cells, 2)
    assert t["cls_mask"].dtype == np.float32 and t["cls_mask"].shape == (SPEC.num_cells,)


def test_16px_box_covers_four_cells_with_the_same_point():
    # box (8,8)-(24,24), stride 8: cell centres 12 and 20 lie inside in x and y -> rows 1-2, cols 1-2
    t = encode([[8, 8, 24, 24]], [[20, 22]], [2])
    cells = {cell(1, 1), cell(1, 2), cell(2, 1), cell(2, 2)}
    assert landmark_cells(t) == cells
    assert all(t["gt_class"][c] == 2 for c in cells)
    # point (20, 22) in cell units of each cell: ((20 - 8c) / 8, (22 - 8r) / 8)
    assert np.allclose(t["gt_point"][cell(1, 1)], [1.5, 1.75])
    assert np.allclose(t["gt_point"][cell(1, 2)], [0.5, 1.75])
    assert np.allclose(t["gt_point"][cell(2, 1)], [1.5, 0.75])
    assert np.allclose(t["gt_point"][cell(2, 2)], [0.5, 0.75])
    # round trip: every landmark cell decodes to the same pixel point
    px = SPEC.to_pixels(t["gt_point"])[sorted(cells)]
    assert np.allclose(px, [20, 22])


def test_tiny_sign_gets_only_its_centre_cell():
    # 3x3 px sign at (41,17)-(44,20): no cell centre (44 or 20 would be on the open edge) -> centre cell
    t = encode([[41, 17, 44, 20]], [[44, 20]], [3])
    assert landmark_cells(t) == {cell(2, 5)}
    assert np.allclose(t["gt_point"][cell(2, 5)], [(44 - 40) / 8, (20 - 16) / 8])


def test_thin_box_without_cell_centres_falls_back_to_centre_cell():
    # wide (x covers centres 4..60) but 2 px tall between y=5 and y=7: no centre inside -> one cell
    t = encode([[0, 5, 64, 7]], [[32, 6]], [1])
    assert landmark_cells(t) == {cell(0, 4)}


def test_box_clipped_to_input_and_outside_boxes_ignored():
    boxes = [
        [-20, -20, 10, 10],  # clipped to (0,0)-(10,10): centre (4,4) inside -> cell (0,0) only
        [200, 10, 220, 30],  # entirely right of the 128 px input
        [30, 30, 30, 40],  # zero width
    ]
    t = encode(boxes, [[0, 0], [210, 20], [30, 35]], [1, 2, 3])
    assert landmark_cells(t) == {cell(0, 0)}
    assert t["gt_class"][cell(0, 0)] == 1
    assert np.allclose(t["gt_point"][cell(0, 0)], [0, 0])


def test_box_on_right_and_bottom_edge_keeps_centre_cell_in_grid():
    t = encode([[127, 63, 130, 66]], [[128, 64]], [1])  # clipped to (127,63)-(128,64), centre in last cell
    assert landmark_cells(t) == {SPEC.num_cells - 1}
    assert np.allclose(t["gt_point"][-1], [1.0, 1.0])


def test_overlap_smaller_box_wins_then_lower_index():
    big = [0, 0, 32, 32]  # rows/cols 0-3
    small = [8, 8, 24, 24]  # rows/cols 1-2, inside big
    t = encode([big, small], [[16, 16], [20, 20]], [1, 2])
    assert {c for c in landmark_cells(t) if t["gt_class"][c] == 2} == {
        cell(1, 1),
        cell(1, 2),
        cell(2, 1),
        cell(2, 2),
    }
    assert t["gt_class"][cell(0, 0)] == 1 and t["gt_class"][cell(3, 3)] == 1
    assert np.allclose(t["gt_point"][cell(1, 1)], [(20 - 8) / 8, (20 - 8) / 8])
    assert np.allclose(t["gt_point"][cell(0, 0)], [2, 2])
    # order of annotations does not matter
    t2 = encode([small, big], [[20, 20], [16, 16]], [2, 1])
    assert np.array_equal(t["gt_class"], t2["gt_class"]) and np.allclose(t["gt_point"], t2["gt_point"])
    # equal areas: lower index wins on the shared cells
    a, b = [0, 0, 16, 16], [8, 0, 24, 16]  # share col 1 of rows 0-1
    t3 = encode([a, b], [[1, 1], [2, 2]], [1, 3])
    assert t3["gt_class"][cell(0, 1)] == 1 and t3["gt_class"][cell(0, 2)] == 3
    t4 = encode([b, a], [[2, 2], [1, 1]], [3, 1])
    assert t4["gt_class"][cell(0, 1)] == 3


def test_tiny_sign_inside_big_sign_keeps_its_cell():
    t = encode([[0, 0, 64, 64], [41, 17, 44, 20]], [[32, 32], [42, 18]], [1, 2])
    assert t["gt_class"][cell(2, 5)] == 2
    assert (t["gt_class"] == 1).sum() == 8 * 8 - 1


def test_background_balanced_and_deterministic():
    boxes = [[8, 8, 24, 24], [64, 16, 96, 48]]  # 4 + 16 landmark cells
    t = encode(boxes, [[16, 16], [80, 32]], [1, 2], background_ratio=1.5, rng=np.random.default_rng(7))
    n_land = int((t["gt_class"] > 0).sum())
    assert n_land == 20
    assert np.all(t["cls_mask"][t["gt_class"] > 0] == 1)
    assert int(t["cls_mask"][t["gt_class"] == 0].sum()) == round(1.5 * n_land)
    again = encode(boxes, [[16, 16], [80, 32]], [1, 2], background_ratio=1.5, rng=np.random.default_rng(7))
    assert np.array_equal(t["cls_mask"], again["cls_mask"])
    other = encode(boxes, [[16, 16], [80, 32]], [1, 2], background_ratio=1.5, rng=np.random.default_rng(8))
    assert not np.array_equal(t["cls_mask"], other["cls_mask"])


def test_background_bounds_and_unbalanced_ablation():
    box, pt = [[8, 8, 24, 24]], [[16, 16]]  # 4 landmark cells
    t = encode(box, pt, [1], background_ratio=1.0, min_background=10)
    assert t["cls_mask"].sum() == 4 + 10  # min_background beats 1.0 * 4
    t = encode(box, pt, [1], background_ratio=1000.0)
    assert t["cls_mask"].sum() == SPEC.num_cells  # capped at all cells
    for ratio in (None, -1.0):
        t = encode(box, pt, [1], background_ratio=ratio)
        assert np.all(t["cls_mask"] == 1)


def test_no_landmarks_gives_min_background():
    t = encode(np.zeros((0, 4)), np.zeros((0, 2)), np.zeros((0,)), min_background=8)
    assert not t["gt_class"].any() and not t["gt_point"].any()
    assert t["cls_mask"].sum() == 8
    t = encode(np.zeros((0, 4)), np.zeros((0, 2)), np.zeros((0,)), min_background=0)
    assert t["cls_mask"].sum() == 0


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="finite"):
        encode([[0, 0, np.nan, 8]], [[1, 1]], [1])
    with pytest.raises(ValueError, match="classes"):
        encode([[0, 0, 8, 8]], [[1, 1]], [-1])  # 0 is an ignore region, see the test below
    with pytest.raises(ValueError, match="shapes"):
        encode([[0, 0, 8, 8]], [[1, 1], [2, 2]], [1])


def test_cell_mask_matches_bruteforce_rule():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 128, (50, 2))
    wh = rng.uniform(0.5, 40, (50, 2))
    boxes = np.clip(np.concatenate([xy, xy + wh], 1), 0, [128, 64, 128, 64])
    boxes = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
    mask = landmark_cell_mask(SPEC, boxes)
    centres = SPEC.cell_origins() + SPEC.stride / 2
    for b, m in zip(boxes, mask, strict=True):
        inside = (
            (centres[:, 0] >= b[0])
            & (centres[:, 0] < b[2])
            & (centres[:, 1] >= b[1])
            & (centres[:, 1] < b[3])
        )
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        inside[min(int(cy // 8), 7) * 16 + min(int(cx // 8), 15)] = True
        assert np.array_equal(m, inside)


def test_fast_on_full_size_grid():
    spec = GridSpec(input_height=320, input_width=512, stride=8)  # 40 x 64 cells
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 480, (100, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(2, 40, (100, 2))], 1)
    points = (boxes[:, :2] + boxes[:, 2:]) / 2
    classes = rng.integers(1, 7, 100)
    encode_targets(spec, boxes, points, classes, rng=rng)  # warm up
    t0 = time.perf_counter()
    for _ in range(20):
        encode_targets(spec, boxes, points, classes, rng=rng)
    per_call = (time.perf_counter() - t0) / 20
    assert per_call < 5e-3, per_call  # typically well under 1 ms; loose bound for shared CI machines


def test_cell_centre_on_the_upper_box_edge_is_outside():
    # stride 8: cell centres at 4, 12, 20, 28, ... Box (8,8)-(20,20): centre 12 is inside, 20 lies exactly on
    # the open upper edge in x and y -> only cell (1, 1) (the box centre (14, 14) is in it too)
    t = encode([[8, 8, 20, 20]], [[14, 14]], [1])
    assert landmark_cells(t) == {cell(1, 1)}
    # one pixel more and centre 20 is inside: rows/cols 1-2
    t = encode([[8, 8, 21, 21]], [[14, 14]], [1])
    assert landmark_cells(t) == {cell(1, 1), cell(1, 2), cell(2, 1), cell(2, 2)}
    # a lower edge exactly on a centre is inside (closed): (12,12)-(28,28) holds centres 12 and 20, not 28
    t = encode([[12, 12, 28, 28]], [[20, 20]], [1])
    assert landmark_cells(t) == {cell(1, 1), cell(1, 2), cell(2, 1), cell(2, 2)}


def _bruteforce_cells(box, spec=SPEC):
    """The documented rule cell by cell in plain Python: centres with x0 <= cx < x1 and y0 <= cy < y1, plus
    the cell holding the box centre (clamped into the grid)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    cells = set()
    for row in range(spec.grid_h):
        for col in range(spec.grid_w):
            cx, cy = (col + 0.5) * spec.stride, (row + 0.5) * spec.stride
            if x0 <= cx < x1 and y0 <= cy < y1:
                cells.add(row * spec.grid_w + col)
    col = min(int((x0 + x1) / 2 // spec.stride), spec.grid_w - 1)
    row = min(int((y0 + y1) / 2 // spec.stride), spec.grid_h - 1)
    cells.add(row * spec.grid_w + col)
    return cells


@pytest.mark.parametrize("step", [1.0, 0.5], ids=["integer", "half_integer"])
def test_cell_mask_matches_bruteforce_rule_on_grid_aligned_coordinates(step):
    """Integer and half-integer boxes put edges exactly on cell centres (4, 12, ...) and cell borders (8,
    16, ...), where an off-by-one in the half-open rule shows."""
    rng = np.random.default_rng(5)
    x0 = rng.integers(0, 120 / step, 300) * step
    y0 = rng.integers(0, 60 / step, 300) * step
    w = rng.integers(1, 40 / step, 300) * step
    h = rng.integers(1, 40 / step, 300) * step
    boxes = np.stack([x0, y0, np.minimum(x0 + w, 128), np.minimum(y0 + h, 64)], 1)
    on_centre = ((boxes % 8) == 4).any(1)
    assert on_centre.sum() > 50  # plenty of edges exactly on a cell centre
    mask = landmark_cell_mask(SPEC, boxes)
    for b, m in zip(boxes, mask, strict=True):
        assert set(np.flatnonzero(m).tolist()) == _bruteforce_cells(b), b.tolist()


def test_ignore_region_cells_are_never_background():
    # 8x8 grid at stride 8; an ignore box (class 0) over cells (0..1, 0..1) and a landmark in cell (5, 5).
    # With every background cell selected, the 4 ignored cells are the only non-landmark cells left out.
    spec = GridSpec(input_height=64, input_width=64, stride=8, num_classes=7)
    boxes = [[0, 0, 16, 16], [40, 40, 48, 48]]
    t = encode_targets(spec, boxes, [[8, 8], [44, 44]], [0, 3], background_ratio=None, rng=0)
    ignored = {0, 1, 8, 9}  # row-major cells (r, c) with r, c in {0, 1}
    assert set(np.flatnonzero(t["cls_mask"] == 0)) == ignored
    assert set(np.flatnonzero(t["gt_class"])) == {5 * 8 + 5} and t["gt_class"][45] == 3
    for seed in range(5):  # sampled background never lands on an ignored cell
        s = encode_targets(spec, boxes, [[8, 8], [44, 44]], [0, 3], background_ratio=20, rng=seed)
        assert not set(np.flatnonzero(s["cls_mask"])) & ignored


def test_point_radius_keeps_only_cells_near_the_reference_point():
    # A road marking box (0,0)-(64,32) covers rows 0-3, cols 0-7 (32 cells); its lower-right end is (64, 32).
    # Cell (r, c) has its centre at (8c + 4, 8r + 4). Within 20 px of (64, 32): squared distances
    # (60-8c)^2 + (28-8r)^2 <= 400, by hand:
    #   c=7 (dx=4):  r=3 (dy=4) 32, r=2 (dy=12) 160, r=1 (dy=20) 416 -> r in {2, 3}
    #   c=6 (dx=12): r=3 160, r=2 288, r=1 544 -> r in {2, 3}
    #   c=5 (dx=20): r=3 416 -> none
    # The other 28 cells of the box are ignored: neither landmark nor background, even with every
    # background cell selected.
    spec = GridSpec(input_height=64, input_width=128, stride=8, num_classes=7)
    t = encode_targets(
        spec, [[0, 0, 64, 32]], [[64, 32]], [6], background_ratio=None, rng=0, point_radius=20.0
    )
    near = {cell(2, 6), cell(2, 7), cell(3, 6), cell(3, 7)}
    assert landmark_cells(t) == near
    box_cells = {cell(r, c) for r in range(4) for c in range(8)}
    assert set(np.flatnonzero(t["cls_mask"] == 0)) == box_cells - near
    # cell (3, 7): point (64, 32) in its cell units is ((64 - 56) / 8, (32 - 24) / 8) = (1, 1)
    np.testing.assert_allclose(t["gt_point"][cell(3, 7)], [1.0, 1.0])


def test_point_radius_keeps_the_nearest_cell_when_the_point_is_far_outside():
    # box (0,0)-(16,16) covers cells (0,0),(0,1),(1,0),(1,1); the point (100, 60) is > 60 px from all of
    # them; the covered cell nearest to it, (1, 1) with centre (12, 12), stays the landmark's only cell.
    t = encode([[0, 0, 16, 16]], [[100, 60]], [2], point_radius=8.0, background_ratio=None)
    assert landmark_cells(t) == {cell(1, 1)}
    assert set(np.flatnonzero(t["cls_mask"] == 0)) == {cell(0, 0), cell(0, 1), cell(1, 0)}


def test_point_radius_none_is_the_whole_box():
    t = encode([[0, 0, 64, 32]], [[64, 32]], [1], point_radius=None)
    assert len(landmark_cells(t)) == 32


def test_far_cells_as_background_are_sampled_first():
    # the marking of test_point_radius_keeps_only_cells_near_the_reference_point: 4 near cells, 28 far
    spec = GridSpec(input_height=64, input_width=128, stride=8, num_classes=7)
    near = {cell(2, 6), cell(2, 7), cell(3, 6), cell(3, 7)}
    far = {cell(r, c) for r in range(4) for c in range(8)} - near

    def bg(min_background):
        t = encode_targets(
            spec, [[0, 0, 64, 32]], [[64, 32]], [6], point_radius=20.0, far_cells="background",
            background_ratio=1.0, min_background=min_background, rng=3,
        )  # fmt: skip
        assert landmark_cells(t) == near
        return set(np.flatnonzero(t["cls_mask"])) - near

    # balanced count max(round(1.0 * 4), 8) = 8 background cells, all of them far cells of the marking
    chosen = bg(8)
    assert len(chosen) == 8 and chosen <= far
    # 40 background cells: all 28 far cells, then 12 others at random
    chosen = bg(40)
    assert len(chosen) == 40 and far <= chosen
    with pytest.raises(ValueError, match="far_cells"):
        encode_targets(spec, [[0, 0, 64, 32]], [[64, 32]], [6], point_radius=20.0, far_cells="x", rng=0)


def test_mined_share_leaves_part_of_the_balanced_count_to_the_loss():
    boxes = [[8, 8, 24, 24], [64, 16, 96, 48]]  # 4 + 16 landmark cells -> 20 background cells balanced
    t = encode(boxes, [[16, 16], [80, 32]], [1, 2], mined_share=0.25)
    bg = t["gt_class"] == 0
    assert int(t["cls_mask"][bg].sum()) == 20 - 5  # round(0.25 * 20) = 5 left to the loss
    assert t["mine_count"] == 5
    # the pool: every background cell not sampled here (128 cells - 20 landmark - 15 sampled = 93)
    assert t["mine_pool"].sum() == 93
    assert not np.any(t["mine_pool"] * t["cls_mask"]) and not np.any(t["mine_pool"][~bg])
    plain = encode(boxes, [[16, 16], [80, 32]], [1, 2])
    assert "mine_pool" not in plain and int(plain["cls_mask"][bg].sum()) == 20
    with pytest.raises(ValueError, match="mined_share"):
        encode(boxes, [[16, 16], [80, 32]], [1, 2], mined_share=1.5)


def test_far_cells_as_hard_negatives_never_sample_an_ignored_cell():
    # the marking of test_point_radius_keeps_only_cells_near_the_reference_point (4 near, 28 far cells) with
    # an ignore region over its upper-left cells (0..1, 0..1): those 4 far cells stay ignored, never
    # background, even when every far cell is wanted as a hard negative (40 > 24 free far cells)
    spec = GridSpec(input_height=64, input_width=128, stride=8, num_classes=7)
    ignored = {cell(0, 0), cell(0, 1), cell(1, 0), cell(1, 1)}
    boxes, points = [[0, 0, 64, 32], [0, 0, 16, 16]], [[64, 32], [8, 8]]
    for min_background in (8, 40):
        for seed in range(3):
            t = encode_targets(
                spec, boxes, points, [6, 0], point_radius=20.0, far_cells="background",
                min_background=min_background, rng=seed,
            )  # fmt: skip
            chosen = set(np.flatnonzero(t["cls_mask"]).tolist())
            assert not chosen & ignored
            assert len(chosen) == 4 + min_background


# ---------------------------------------------------------- contracts pinned by mutation testing (issue 33)


def test_class_and_point_bounds_are_inclusive_where_documented():
    # classes 1..M-1 (M = 4): 3 is fine, 4 is not; a point at exactly +-1e6 px is fine, beyond is not
    assert landmark_cells(encode([[0, 0, 8, 8]], [[1e6, -1e6]], [3])) == {cell(0, 0)}
    with pytest.raises(
        ValueError, match=r"landmark classes must be in 1\.\.3 \(0: ignore region\), got \[4\]"
    ):
        encode([[0, 0, 8, 8]], [[1, 1]], [4])
    with pytest.raises(ValueError, match=r"within \+-1e\+06 px"):
        encode([[0, 0, 8, 8]], [[1e6 + 1, 0]], [1])
    with pytest.raises(ValueError, match="^boxes and points must be finite$"):
        encode([[0, 0, 8, 8]], [[np.inf, 0]], [1])
    # a box of zero height (or width) is no landmark
    assert landmark_cells(encode([[0, 8, 16, 8]], [[8, 8]], [1])) == set()
    assert landmark_cells(encode([[8, 0, 8, 16]], [[8, 8]], [1])) == set()


def test_point_radius_keeps_cells_exactly_at_the_radius():
    # point (60, 12) = centre of cell (1, 7); cells (1, 6), (0, 7), (2, 7) have centres exactly 8 px away
    t = encode([[0, 0, 64, 32]], [[60, 12]], [1], point_radius=8.0, background_ratio=None)
    assert landmark_cells(t) == {cell(1, 7), cell(1, 6), cell(0, 7), cell(2, 7)}


def test_point_radius_nearest_cell_is_per_landmark():
    # two boxes with their points far outside: each keeps its own covered cell nearest to its point
    t = encode([[0, 0, 16, 16], [64, 32, 80, 48]], [[100, 60], [0, 0]], [1, 2], point_radius=4.0)
    assert landmark_cells(t) == {cell(1, 1), cell(4, 8)}
    assert t["gt_class"][cell(1, 1)] == 1 and t["gt_class"][cell(4, 8)] == 2


def test_overlap_priority_uses_the_true_box_area():
    # A [0, 0, 40, 16] (area 640) and the lower B [8, 8, 24, 40] (area 512) share cells (1, 1) and (1, 2):
    # B is smaller and wins them
    t = encode([[0, 0, 40, 16], [8, 8, 24, 40]], [[20, 8], [16, 24]], [1, 2])
    assert t["gt_class"][cell(1, 1)] == 2 and t["gt_class"][cell(1, 2)] == 2
    assert t["gt_class"][cell(0, 1)] == 1


def test_ignore_regions_with_a_class_1_landmark_and_a_point_radius():
    # ignore region over cells (0..1, 0..1); a class-1 marking [32, 0, 96, 32] with its point at (96, 32) and
    # radius 20: its far cells are ignored too, the ignore region stays ignored, background elsewhere
    t = encode(
        [[0, 0, 16, 16], [32, 0, 96, 32]],
        [[8, 8], [96, 32]],
        [0, 1],
        point_radius=20.0,
        background_ratio=None,
    )
    near = {cell(2, 10), cell(2, 11), cell(3, 10), cell(3, 11)}
    assert landmark_cells(t) == near and set(t["gt_class"][list(near)]) == {1}
    region = {cell(0, 0), cell(0, 1), cell(1, 0), cell(1, 1)}
    far = {cell(r, c) for r in range(4) for c in range(4, 12)} - near
    assert set(np.flatnonzero(t["cls_mask"] == 0)) == region | far


def test_background_counts_follow_ratio_min_and_defaults():
    box, pt = [[8, 8, 24, 24]], [[16, 16]]  # 4 landmark cells
    t = encode(box, pt, [1], background_ratio=0.5, min_background=0)
    assert t["cls_mask"].sum() == 4 + 2  # round(0.5 * 4)
    assert set(np.unique(t["cls_mask"])) == {0.0, 1.0}
    t = encode_targets(SPEC, np.zeros((0, 4)), np.zeros((0, 2)), np.zeros(0), rng=0)  # default min 8
    assert t["cls_mask"].sum() == 8
    t = encode(box, pt, [1], background_ratio=None, mined_share=0.5)  # every cell sampled: none left to mine
    assert t["mine_count"] == 0 and t["mine_pool"].sum() == 0 and t["mine_pool"].dtype == np.float32
    t = encode(box, pt, [1], mined_share=1.0, min_background=8)  # all of the balanced count to the loss
    assert t["mine_count"] == 8 and t["cls_mask"].sum() == 4


def test_far_cells_background_without_a_point_radius_is_the_whole_box():
    t = encode([[0, 0, 64, 32]], [[64, 32]], [1], far_cells="background", background_ratio=1.0)
    assert len(landmark_cells(t)) == 32 and t["cls_mask"].sum() == 64
    # with a radius: far cells sampled as hard negatives get mask 1, like any sampled background
    t = encode([[0, 0, 64, 32]], [[64, 32]], [1], point_radius=20.0, far_cells="background", min_background=8)
    assert set(np.unique(t["cls_mask"])) == {0.0, 1.0} and t["cls_mask"].sum() == 4 + 8


def test_background_ratio_0_samples_only_min_background():
    t = encode([[8, 8, 24, 24]], [[16, 16]], [1], background_ratio=0.0, min_background=5)
    assert t["cls_mask"].sum() == 4 + 5


def test_overlap_priority_uses_the_area_inside_the_input():
    # A [-100, 0, 16, 16] is 16 x 16 inside the input (256 px^2), B [8, 0, 24, 32] 512 px^2: they share cells
    # (0, 1) and (1, 1), which go to A, the smaller once clipped
    t = encode([[-100, 0, 16, 16], [8, 0, 24, 32]], [[8, 8], [16, 16]], [1, 2])
    assert (
        t["gt_class"][cell(0, 1)] == 1 and t["gt_class"][cell(1, 1)] == 1 and t["gt_class"][cell(2, 1)] == 2
    )
