"""Training plots (matplotlib, Agg): the method's FIG. 11-style (L_loc, L_cls) trajectory."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keras_lmk.atomic import atomic_write  # noqa: E402


def read_trajectory(path: Path) -> np.ndarray:
    """trajectory.csv -> float [T, 3] (step, cls, loc)."""
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return data.reshape(-1, 3)


def plot_loss_trajectories(trajectories: dict[str, np.ndarray], out_png: Path, title: str = "") -> Path:
    """One curve per run in the (L_loc, L_cls) plane, coloured by training progress, plus both losses vs step.

    trajectories: name -> float [T, 3] (step, cls, loc). Class loss falling first shows as a vertical drop
    before the curve moves left along L_loc.
    """
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
    atomic_write(out_png, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return Path(out_png)
