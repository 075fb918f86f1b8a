"""Figures (keras_lmk.evaluation.plots): colours a person can read (WCAG contrast, by hand), the trajectory
CSV reader on a hand-written file, and PNGs of the size their figure and dpi say."""

import numpy as np
import pytest

from keras_lmk.evaluation import plots


def test_pr_curve_colours_read_on_white_and_stay_distinct():
    from itertools import combinations

    from keras_lmk.data.taxonomy import load_taxonomy
    from keras_lmk.evaluation.plots import WHITE, class_line_colors, contrast_ratio

    tax = load_taxonomy("korea")
    colors = class_line_colors(tax)
    assert set(colors) == set(tax.names[1:])
    assert contrast_ratio(tax.classes[tax.class_id("auxiliary")].color, WHITE) < 1.2  # the near-white one
    for name, c in colors.items():
        assert contrast_ratio(c, WHITE) >= 3.0, (name, c)
    for (a, ca), (b, cb) in combinations(colors.items(), 2):
        assert np.linalg.norm(np.subtract(ca, cb)) > 60, (a, b, ca, cb)
    assert colors["regulatory"] == tuple(tax.classes[tax.class_id("regulatory")].color)  # readable: kept


def test_contrast_ratio_by_hand():
    from keras_lmk.evaluation.plots import BLACK, WHITE, contrast_ratio, readable_on_white

    assert contrast_ratio(BLACK, WHITE) == pytest.approx(21.0)
    assert contrast_ratio((118, 118, 118), WHITE) == pytest.approx(4.54, abs=0.01)  # WCAG's AA grey
    assert readable_on_white(WHITE)[0] == readable_on_white(WHITE)[2] < 150  # white becomes a mid grey


def test_confusion_counts_are_legible_on_every_cell():
    from keras_lmk.evaluation.plots import WHITE, confusion_colors, contrast_ratio

    cm = np.array([[0, 3, 40], [2, 900, 1], [15, 0, 5000]])
    cells, text = confusion_colors(cm)
    assert cells.shape == text.shape == (3, 3, 3)
    for i, j in np.ndindex(cm.shape):
        assert contrast_ratio(text[i, j], cells[i, j]) >= 4.5, (cm[i, j], cells[i, j], text[i, j])
    assert tuple(text[2, 2]) == WHITE  # the darkest cell (old plot: black on dark blue)


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")  # IHDR width, height


def test_read_trajectory_of_a_hand_written_csv(tmp_path):
    (tmp_path / "t.csv").write_text("step,cls,loc\n0,2.5,1.0\n10,1.25,0.75\n")
    np.testing.assert_array_equal(
        plots.read_trajectory(tmp_path / "t.csv"), [[0, 2.5, 1.0], [10, 1.25, 0.75]]
    )
    (tmp_path / "one.csv").write_text("step,cls,loc\n3,0.5,0.25\n")
    assert plots.read_trajectory(tmp_path / "one.csv").tolist() == [[3, 0.5, 0.25]]


def test_figures_are_pngs_of_their_figure_size_and_leave_no_open_figure(tmp_path):
    from keras_lmk.data.taxonomy import load_taxonomy

    tax = load_taxonomy("korea")
    curves = {"warning": (np.array([0.5, 1.0]), np.array([1.0, 0.5]))}
    out = plots.plot_pr_curves(curves, tax, tmp_path / "pr.png", "5 px")
    assert out == tmp_path / "pr.png" and png_size(out) == (600, 500)  # 6 x 5 in at 100 dpi
    cm = np.array([[0, 1], [2, 3]])
    assert png_size(plots.plot_confusion(cm, ["background", "sign"], tmp_path / "cm.png")) == (700, 600)
    assert png_size(plots.plot_point_errors(np.array([0.5, 1.5, 2.0]), 0.3, tmp_path / "e.png")) == (600, 400)
    tr = np.array([[0, 2.0, 1.0], [1, 1.0, 0.9], [2, 0.5, 0.4]])
    assert png_size(plots.plot_loss_trajectories({"a": tr}, tmp_path / "l.png")) == (1210, 495)  # 110 dpi
    assert plots.pyplot().get_fignums() == []
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["cm.png", "e.png", "l.png", "pr.png"]  # written atomically: no temp file left
