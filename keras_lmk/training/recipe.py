"""The runner behind ``python -m keras_lmk.recipe``: a recipe's stages (:mod:`keras_lmk.training.recipe_file`)
run in order, each in its own folder of one run directory, resumable after an interruption.

    run_recipe(load_recipe("recipes/real.yaml"), run_dir, resume=True)

Each stage is one or two commands run with this Python (:func:`stage_commands`). A train stage: ``python -m
keras_lmk.train --preset P --run-dir RUN/<name> --set K=V ...`` (an interrupted one continues with ``python
-m keras_lmk.train --run-dir RUN/<name> --resume``), then its final weights written to
``RUN/<name>/model.weights.h5``, the file a later stage's ``model.weights_path`` reads and the form
``models/`` keeps. An ignore_regions stage: ``python -m keras_lmk.ignore_regions --model
RUN/<model>/model.keras --out RUN/<name>/ignore_regions.json ...``. A kit: ``python -m keras_lmk.demo_assets
--run RUN/<model> --out RUN/<name> ...`` (or ``kit_out``).

A finished stage is recorded in ``RUN/<name>.done.json`` (written atomically: its commands, outputs, commit,
seconds over its attempts), which ``resume`` skips; ``RUN/recipe.json`` says the folder holds a recipe run
and ``RUN/recipe_log.jsonl`` lists every command run. The model card of every train stage and the kit's card
get ``"recipe": {"file", "version", "commit", "stage"}``.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from keras_lmk.atomic import atomic_write_json
from keras_lmk.training.recipe_file import (
    IGNORE_FILE,
    WEIGHTS_FILE,
    Recipe,
    RecipeError,
    Stage,
    train_overrides,
)

REPO = Path(__file__).resolve().parents[2]  # the source tree whose commit a card names


class StageFailed(RuntimeError):
    """A stage's command exited with ``code`` (1 failed, 2 bad input, 130 interrupted)."""

    def __init__(self, stage: str, code: int, run_dir: Path, why: str = ""):
        super().__init__(
            f"stage {stage!r} failed (exit {code}{why}); {run_dir} keeps what is done: fix the cause, then "
            "add --resume to the same command"
        )
        self.code = code


# ----------------------------------------------------------------------------------------------- commands


def kit_dir(stage: Stage, run_dir: Path, kit_out: str | Path | None) -> Path:
    return Path(kit_out) if kit_out is not None else run_dir / stage.name


def weights_command(model: Path, weights: Path) -> list[str]:
    """Write the weights of ``model`` (a .keras file) to ``weights`` (``*.weights.h5``, what
    ``model.weights_path`` reads), as docs/training.md says to (paths as JSON strings: valid Python, and no
    single quote to escape in the shell line --dry-run prints)."""
    code = (
        "from keras_lmk.cli import start_tensorflow; start_tensorflow(); "
        "from keras_lmk.detector.model import load_model; "
        f"load_model({json.dumps(str(model))}).save_weights({json.dumps(str(weights))})"
    )
    return ["python", "-c", code]


def stage_commands(stage: Stage, run_dir: Path, *, kit_out=None, resume: bool = False) -> list[list[str]]:
    """The command lines of ``stage``, run in order (``python`` = the interpreter running the recipe)."""
    folder = run_dir / stage.name
    if stage.run == "train":
        if resume:
            argv = ["python", "-m", "keras_lmk.train", "--run-dir", str(folder), "--resume"]
        else:
            argv = ["python", "-m", "keras_lmk.train", "--preset", stage.preset, "--run-dir", str(folder)]
            for text in train_overrides(stage, run_dir):
                argv += ["--set", text]
        return [argv, weights_command(folder / "model.keras", folder / WEIGHTS_FILE)]
    model = run_dir / stage.model
    if stage.run == "ignore_regions":
        argv = ["python", "-m", "keras_lmk.ignore_regions", "--model", str(model / "model.keras")]
        argv += ["--out", str(folder / IGNORE_FILE)]
    else:
        argv = ["python", "-m", "keras_lmk.demo_assets", "--run", str(model)]
        argv += ["--out", str(kit_dir(stage, run_dir, kit_out))]
    for key, value in stage.options:
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is not False:
            argv += [flag, *(map(str, value) if isinstance(value, list) else [str(value)])]
    return [argv]


def stage_outputs(stage: Stage, run_dir: Path, kit_out=None) -> dict[str, str]:
    """What a finished stage leaves for the others (checked to exist before it is recorded as done)."""
    if stage.run == "train":
        d = run_dir / stage.name
        return {
            "model": str(d / "model.keras"),
            "weights": str(d / WEIGHTS_FILE),
            "card": str(d / "model_card.json"),
        }
    if stage.run == "ignore_regions":
        return {"ignore_regions": str(run_dir / stage.name / IGNORE_FILE)}
    d = kit_dir(stage, run_dir, kit_out)
    return {"model": str(d / "model_int8.tflite"), "card": str(d / "model_int8.json")}


def run_command(argv: list[str]) -> int:
    """Run a stage's command with this Python, its output on ours; returns its exit code."""
    exe = [sys.executable, *argv[1:]] if argv[0] == "python" else argv
    sys.stdout.flush()
    return subprocess.run(exe, check=False).returncode


# ------------------------------------------------------------------------------------------------- record


def source_commit(repo: Path = REPO, recipe: Path | None = None) -> str:
    """``git rev-parse HEAD`` of ``repo``, plus ``-dirty`` when a tracked file differs from it or the recipe
    file (inside ``repo``) is not committed as it is; ``unknown`` outside a git checkout."""

    def git(*args: str) -> str:
        cmd = ["git", "-C", str(repo), *args]
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        if recipe is not None and Path(recipe).resolve().is_relative_to(Path(repo).resolve()):
            dirty |= bool(
                git("status", "--porcelain", "--untracked-files=all", "--", str(Path(recipe).resolve()))
            )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def recipe_stamp(recipe: Recipe, stage: str) -> dict:
    """The card's ``recipe`` entry: the file (repository-relative when inside it), version, commit, stage."""
    path = recipe.path.resolve()
    file = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(path)
    return {"file": file, "version": recipe.version, "commit": source_commit(REPO, path), "stage": stage}


def _stamp_card(card: Path, stamp: dict) -> None:
    atomic_write_json(card, {**json.loads(card.read_text()), "recipe": stamp})


def _relative(commands: list[list[str]], run_dir: Path) -> list[list[str]]:
    """``commands`` with the run folder written as RUN: the same stage, wherever the folder was named from."""
    return [[a.replace(str(run_dir), "RUN") for a in argv] for argv in commands]


def _attempts(log: Path, stage: str) -> list[dict]:
    if not log.is_file():
        return []
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["stage"] == stage]


# -------------------------------------------------------------------------------------------------- runner


def _execute(execute: Callable, argv: list[str], stage: Stage, step: int, run_dir: Path) -> None:
    """Run command ``step`` of ``stage``; each run is a line of RUN/recipe_log.jsonl (its seconds count)."""
    t0, code = time.time(), None
    try:
        code = execute(argv)
    finally:
        seconds = round(time.time() - t0, 1)
        row = {"stage": stage.name, "step": step, "command": argv, "seconds": seconds, "exit": code}
        with open(run_dir / "recipe_log.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
    if code:
        raise StageFailed(stage.name, code, run_dir)


def _check_run_dir(recipe: Recipe, run_dir: Path, resume: bool) -> None:
    info = run_dir / "recipe.json"
    if resume and not info.is_file():
        raise RecipeError(
            f"{run_dir}: holds no recipe run to --resume (no recipe.json); drop --resume to start"
        )
    if not resume and (info.is_file() or any((run_dir / f"{n}.done.json").exists() for n in recipe.names())):
        raise RecipeError(
            f"{run_dir}: holds a recipe run; pass --resume to continue it, or another --run-dir"
        )
    if resume:
        started = json.loads(info.read_text())
        if started["version"] != recipe.version:
            raise RecipeError(
                f"{run_dir}: was started with version {started['version']} of {started['file']}, not "
                f"{recipe.version} ({recipe.path}); start a new --run-dir"
            )


def run_recipe(
    recipe: Recipe,
    run_dir: str | Path,
    *,
    resume: bool = False,
    until: str | None = None,
    dry_run: bool = False,
    kit_out: str | Path | None = None,
    execute: Callable[[list[str]], int] = run_command,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Run ``recipe``'s stages into ``run_dir`` up to and including ``until``; returns the stages run.
    ``dry_run``: only ``log`` each command (``#`` lines say what is done or resumed) and write nothing."""
    run_dir = Path(run_dir)
    if until is not None and until not in recipe.names():
        raise RecipeError(f"{recipe.path}: no stage {until!r} (--until); stages: {', '.join(recipe.names())}")
    _check_run_dir(recipe, run_dir, resume)
    stages = recipe.stages[: recipe.names().index(until) + 1] if until else recipe.stages
    if not dry_run and not resume:
        run_dir.mkdir(parents=True, exist_ok=True)
        started = recipe_stamp(recipe, "")
        started.pop("stage")
        atomic_write_json(run_dir / "recipe.json", {**started, "started": time.strftime("%Y-%m-%d %H:%M:%S")})
    done_now = []
    for i, stage in enumerate(stages, 1):
        head = f"[{i}/{len(recipe.stages)}] {stage.name}"
        commands = stage_commands(stage, run_dir, kit_out=kit_out)
        marker = run_dir / f"{stage.name}.done.json"
        if marker.is_file():
            recorded = json.loads(marker.read_text())
            if _relative(recorded["commands"], Path(recorded["run_dir"])) != _relative(commands, run_dir):
                raise RecipeError(
                    f"{recipe.path}: stage {stage.name!r} was run as `{shlex.join(recorded['commands'][0])}`,"
                    f" the recipe now says `{shlex.join(commands[0])}`; start a new --run-dir, or delete"
                    f" {marker} to run that stage (and redo the later ones) again"
                )
            log(f"# {head}: done, skipped ({marker})")
            continue
        folder = run_dir / stage.name
        resumed = stage.run == "train" and any(
            (folder / p).is_file() for p in ("config.yaml", "checkpoints/last.keras")
        )
        log(f"# {head}: {stage.run}" + (", resumed from its last checkpoint" if resumed else ""))
        for step, argv in enumerate(stage_commands(stage, run_dir, kit_out=kit_out, resume=resumed)):
            log(shlex.join(argv))
            if not dry_run:
                _execute(execute, argv, stage, step, run_dir)
        if dry_run:
            continue
        outputs = stage_outputs(stage, run_dir, kit_out)
        missing = [p for p in outputs.values() if not Path(p).exists()]
        if missing:
            raise StageFailed(stage.name, 1, run_dir, f", but wrote no {', '.join(missing)}")
        stamp = recipe_stamp(recipe, stage.name)
        first = json.loads((run_dir / "recipe.json").read_text())["commit"]
        if stamp["commit"] != first:  # resumed on other code: the cards name the last, the markers each
            log(f"# note: {stage.name} finished at commit {stamp['commit']}, the run started at {first}")
        if "card" in outputs:
            _stamp_card(Path(outputs["card"]), stamp)
        attempts = _attempts(run_dir / "recipe_log.jsonl", stage.name)
        record = {
            "stage": stage.name,
            "run": stage.run,
            "run_dir": str(run_dir),
            "commands": commands,
            "outputs": outputs,
            "commit": stamp["commit"],
            "attempts": sum(a["step"] == 0 for a in attempts),
            "seconds": round(sum(a["seconds"] for a in attempts), 1),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        atomic_write_json(marker, record)
        log(f"# {head}: done in {record['seconds']:.0f} s ({marker})")
        done_now.append(stage.name)
    return done_now
