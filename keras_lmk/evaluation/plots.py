"""Plots (matplotlib, Agg): the training loss trajectory (the method's FIG. 11) and the evaluation figures.

Every figure goes through :func:`pyplot` (the headless backend, set once) and :func:`save_figure` (atomic
write, figure closed). Colours are chosen to be read: a class colour too light for a white background
(``auxiliary`` is near-white in the korea taxonomy) is darkened keeping its hue (:func:`readable_on_white`),
and each confusion-matrix count is written in white or black, whichever contrasts more with its cell.
Contrast is the WCAG ratio of relative luminances, 1 (none) to 21 (black on white).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_lmk.atomic import atomic_write
from keras_lmk.data.taxonomy import Taxonomy

WHITE, BLACK = (255, 255, 255), (0, 0, 0)
MIN_LINE_CONTRAST = 3.0  # WCAG's minimum for graphics against their background


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Write ``fig`` as PNG atomically and close it."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    pyplot().close(fig)
    return Path(path)


def relative_luminance(rgb) -> float:
    """WCAG relative luminance of an sRGB colour given as 0..255 values."""
    c = np.asarray(rgb, float)[:3] / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(lin @ [0.2126, 0.7152, 0.0722])


def contrast_ratio(a, b) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable_on_white(rgb, min_contrast: float = MIN_LINE_CONTRAST) -> tuple[int, int, int]:
    """``rgb`` (0..255) scaled darker, same hue, until it reaches ``min_contrast`` against white."""
    rgb = np.asarray(rgb, float)[:3]
    lo, hi = 0.0, 1.0
    if contrast_ratio(rgb, WHITE) >= min_contrast:
        return tuple(int(v) for v in rgb)
    for _ in range(30):  # bisection on the scale factor; contrast grows as the colour darkens
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if contrast_ratio(rgb * mid, WHITE) >= min_contrast else (lo, mid)
    return tuple(int(v) for v in np.floor(rgb * lo))


def class_line_colors(taxonomy: Taxonomy) -> dict[str, tuple[int, int, int]]:
    """Class name -> a colour for lines on white: the taxonomy's colour, darkened where it is too light."""
    return {c.name: readable_on_white(c.color) for c in taxonomy.classes[1:]}


def text_color_on(cell_rgb) -> tuple[int, int, int]:
    """White or black, whichever contrasts more with ``cell_rgb`` (0..255)."""
    return WHITE if contrast_ratio(WHITE, cell_rgb) >= contrast_ratio(BLACK, cell_rgb) else BLACK


def confusion_colors(cm: np.ndarray, cmap: str = "Blues") -> tuple[np.ndarray, np.ndarray]:
    """(cell colours, text colours), uint8 [M, M, 3] each, of the confusion plot: cells shaded by log(1 +
    count), scaled to the largest; each count's text in :func:`text_color_on` its cell."""
    import matplotlib

    shade = np.log1p(np.asarray(cm, float))
    shade = shade / shade.max() if shade.max() > 0 else shade
    cells = (np.asarray(matplotlib.colormaps[cmap](shade))[..., :3] * 255).round().astype(np.uint8)
    text = np.array([[text_color_on(c) for c in row] for row in cells], np.uint8).reshape(cells.shape)
    return cells, text


def plot_pr_curves(curves: dict, taxonomy: Taxonomy, out_png: Path, tolerance: str) -> Path:
    """curves: class name -> (recall [K], precision [K]); drawn as the precision envelope per class."""
    plt = pyplot()
    colors = class_line_colors(taxonomy)
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, (r, p) in curves.items():
        env = np.maximum.accumulate(p[::-1])[::-1] if len(p) else p
        ax.step(
            np.concatenate([[0], r]),
            np.concatenate([[1], env]),
            where="post",
            label=name,
            color=np.asarray(colors[name]) / 255,
        )
    ax.set(
        xlabel="recall",
        ylabel="precision",
        xlim=(0, 1),
        ylim=(0, 1.02),
        title=f"PR curves (tolerance {tolerance})",
    )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left")
    return save_figure(fig, out_png)


def plot_point_errors(errors: np.ndarray, threshold: float, out_png: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(errors, bins=30, color="tab:blue")
    ax.set(
        xlabel="point error (px, original image)",
        ylabel="matched predictions",
        title=f"point error at threshold {threshold:g} (n={len(errors)})",
    )
    return save_figure(fig, out_png)


def plot_confusion(cm: np.ndarray, names: list[str], out_png: Path) -> Path:
    """cm: int [M, M], rows ground truth, columns prediction, class 0 = background."""
    plt = pyplot()
    cells, text = confusion_colors(cm)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(cells)
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=8, color=text[i, j] / 255)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set(
        xlabel="prediction (background = missed)",
        ylabel="ground truth (background = none)",
        title="confusion at the operating threshold",
    )
    fig.tight_layout()
    return save_figure(fig, out_png)


def read_trajectory(path: Path) -> np.ndarray:
    """trajectory.csv -> float [T, 3] (step, cls, loc)."""
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return data.reshape(-1, 3)


def plot_loss_trajectories(trajectories: dict[str, np.ndarray], out_png: Path, title: str = "") -> Path:
    """One curve per run in the (L_loc, L_cls) plane, coloured by training progress, plus both losses vs step.

    trajectories: name -> float [T, 3] (step, cls, loc). Class loss falling first shows as a vertical drop
    before the curve moves left along L_loc.
    """
    plt = pyplot()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, tr in trajectories.items():
        if len(tr) == 0:
            continue
        line = ax0.plot(tr[:, 2], tr[:, 1], "-", lw=1.2, label=name, alpha=0.85)[0]
        ax0.plot(tr[0, 2], tr[0, 1], "o", color=line.get_color())
        ax0.plot(tr[-1, 2], tr[-1, 1], "*", ms=12, color=line.get_color())
        c0 = tr[:, 1] / max(tr[0, 1], 1e-9)
        l0 = tr[:, 2] / max(tr[0, 2], 1e-9)
        ax1.plot(tr[:, 0], c0, "-", color=line.get_color(), label=f"{name} L_cls")
        ax1.plot(tr[:, 0], l0, "--", color=line.get_color(), label=f"{name} L_loc")
    ax0.set_xlabel("L_loc (per image)")
    ax0.set_ylabel("L_cls (per image)")
    ax0.set_title("loss trajectory (o start, * end)")
    ax0.legend(fontsize=8)
    ax1.set_xlabel("training step")
    ax1.set_ylabel("loss / initial loss")
    ax1.set_yscale("log")
    ax1.set_title("class loss falls first, then localization")
    ax1.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, out_png, dpi=110)
