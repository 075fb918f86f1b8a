"""The recipe runner: stages in order, weights handed on, a finished stage skipped and an interrupted one
resumed on --resume, the exact commands of --dry-run, the card's recipe fields, bad recipe files exit 2.

All but one test run the stages with a fake executor that writes what each command would; the last trains
a two-stage recipe on the debug preset for real."""

import json
import re
import subprocess
from pathlib import Path

import pytest
from test_recipe_file import SMALL, write_recipe

from keras_lmk.recipe import main as recipe_main
from keras_lmk.training.recipe import REPO, StageFailed, run_recipe, source_commit
from keras_lmk.training.recipe_file import RecipeError, load_recipe

SHIPPED = REPO / "recipes" / "real.yaml"


class FakeExecutor:
    """Stands in for the commands: writes what each would write; ``interrupt`` names a training run folder
    whose run stops after its first checkpoint (exit 130, as Ctrl-C), ``fail`` one that exits 1 at once."""

    def __init__(self, interrupt: str | None = None, fail: str | None = None):
        self.calls: list[list[str]] = []
        self.interrupt, self.fail = interrupt, fail

    def __call__(self, argv: list[str]) -> int:
        self.calls.append(argv)
        module = argv[2]
        if argv[1] == "-c":  # a model's weights saved as .weights.h5
            Path(re.search(r'save_weights\("(.+?)"\)', module).group(1)).write_text("h5")
        elif module == "keras_lmk.train":
            run_dir = Path(argv[argv.index("--run-dir") + 1])
            if run_dir.name == self.fail:
                return 1
            (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
            (run_dir / "config.yaml").write_text("train: {}\n")
            (run_dir / "checkpoints" / "last.keras").write_text("epoch 1")
            if run_dir.name == self.interrupt:
                self.interrupt = None  # once
                return 130
            (run_dir / "model.keras").write_text("weights")
            card = {"format": "keras_lmk.model_card/1", "decoder": {"score_threshold": 0.3}}
            (run_dir / "model_card.json").write_text(json.dumps(card))
        elif module == "keras_lmk.ignore_regions":
            out = Path(argv[argv.index("--out") + 1])
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text('{"images": {}}')
        elif module == "keras_lmk.demo_assets":
            out = Path(argv[argv.index("--out") + 1])
            out.mkdir(parents=True, exist_ok=True)
            (out / "model_int8.tflite").write_bytes(b"TFL3")
            (out / "model_int8.json").write_text(json.dumps({"format": "keras_lmk.model_card/1"}))
        return 0

    def modules_and_dirs(self) -> list[tuple[str, str]]:
        """(module, the folder or file it writes) of every call, in order; ``weights`` for a weights file."""
        flag = {"keras_lmk.train": "--run-dir", "keras_lmk.ignore_regions": "--out"}
        return [
            ("weights", re.search(r'save_weights\("(.+?)"\)', a[2]).group(1).split("/")[-2])
            if a[1] == "-c"
            else (a[2], Path(a[a.index(flag.get(a[2], "--out")) + 1]).name)
            for a in self.calls
        ]


def test_stages_run_in_order_each_in_its_folder_and_hand_on_their_outputs(tmp_path):
    recipe, run_dir, ex = (
        load_recipe(write_recipe(tmp_path / "r.yaml", SMALL)),
        tmp_path / "run",
        FakeExecutor(),
    )
    assert run_recipe(recipe, run_dir, execute=ex, log=lambda *a: None) == ["a", "t", "b", "kit"]
    assert ex.modules_and_dirs() == [
        ("keras_lmk.train", "a"),
        ("weights", "a"),  # a's weights saved as .weights.h5, the form model.weights_path reads
        ("keras_lmk.ignore_regions", "ignore_regions.json"),
        ("keras_lmk.train", "b"),
        ("weights", "b"),
        ("keras_lmk.demo_assets", "kit"),
    ]
    a, _, t, b, _, kit = ex.calls
    assert a[:4] == ["python", "-m", "keras_lmk.train", "--preset"]
    assert "model.weights_path" not in " ".join(a)  # the first stage starts from random weights
    assert t[t.index("--model") + 1] == str(run_dir / "a" / "model.keras")  # the teacher is stage a's model
    assert f"model.weights_path={run_dir / 'a' / 'model.weights.h5'}" in b  # b starts from a's weights
    assert f"data.ignore_regions={run_dir / 't' / 'ignore_regions.json'}" in b  # ... with t's regions
    assert kit[kit.index("--run") + 1] == str(run_dir / "b")  # the kit is b's model
    for name in ("a", "t", "b", "kit"):  # each finished stage is recorded, with its outputs
        marker = json.loads((run_dir / f"{name}.done.json").read_text())
        assert marker["stage"] == name and marker["outputs"]
    outputs = json.loads((run_dir / "b.done.json").read_text())["outputs"]
    assert outputs["weights"] == str(run_dir / "b" / "model.weights.h5")


def test_a_finished_stage_is_skipped_on_resume(tmp_path):
    recipe, run_dir = load_recipe(write_recipe(tmp_path / "r.yaml", SMALL)), tmp_path / "run"
    first = FakeExecutor(fail="b")
    with pytest.raises(StageFailed, match="stage 'b'.*exit 1"):
        run_recipe(recipe, run_dir, execute=first, log=lambda *a: None)
    assert [d for _, d in first.modules_and_dirs()] == ["a", "a", "ignore_regions.json", "b"]
    assert (run_dir / "a.done.json").is_file() and not (run_dir / "b.done.json").exists()
    again = FakeExecutor()
    assert run_recipe(recipe, run_dir, resume=True, execute=again, log=lambda *a: None) == ["b", "kit"]
    assert [d for _, d in again.modules_and_dirs()] == ["b", "b", "kit"]  # a and t not run again


def test_an_interrupted_training_stage_is_resumed_not_restarted(tmp_path):
    recipe, run_dir = load_recipe(write_recipe(tmp_path / "r.yaml", SMALL)), tmp_path / "run"
    with pytest.raises(StageFailed) as stopped:
        run_recipe(recipe, run_dir, execute=FakeExecutor(interrupt="b"), log=lambda *a: None)
    assert stopped.value.code == 130
    again = FakeExecutor()
    run_recipe(recipe, run_dir, resume=True, execute=again, log=lambda *a: None)
    # the training CLI's own --resume: the run's config.yaml, its last checkpoint and optimizer state
    assert again.calls[0] == ["python", "-m", "keras_lmk.train", "--run-dir", str(run_dir / "b"), "--resume"]
    marker = json.loads((run_dir / "b.done.json").read_text())
    assert marker["attempts"] == 2 and "--preset" in marker["commands"][0]  # as the recipe states it


def test_without_resume_a_run_dir_holding_a_recipe_run_is_refused(tmp_path, capsys):
    path, run_dir = write_recipe(tmp_path / "r.yaml", SMALL), tmp_path / "run"
    run_recipe(load_recipe(path), run_dir, until="a", execute=FakeExecutor(), log=lambda *a: None)
    assert recipe_main(["--recipe", str(path), "--run-dir", str(run_dir)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_of_a_folder_without_a_recipe_run_is_an_error(tmp_path, capsys):
    path = write_recipe(tmp_path / "r.yaml", SMALL)
    assert recipe_main(["--recipe", str(path), "--run-dir", str(tmp_path / "typo"), "--resume"]) == 2
    assert "typo" in capsys.readouterr().err and not (tmp_path / "typo").exists()


def test_until_stops_after_the_named_stage(tmp_path):
    recipe, ex = load_recipe(write_recipe(tmp_path / "r.yaml", SMALL)), FakeExecutor()
    assert run_recipe(recipe, tmp_path / "run", until="t", execute=ex, log=lambda *a: None) == ["a", "t"]
    with pytest.raises(RecipeError, match="no stage 'c'.*a, t, b, kit"):
        run_recipe(recipe, tmp_path / "run2", until="c", execute=ex, log=lambda *a: None)


def test_a_done_stage_whose_recipe_changed_is_refused(tmp_path):
    path, run_dir = write_recipe(tmp_path / "r.yaml", SMALL), tmp_path / "run"
    run_recipe(load_recipe(path), run_dir, until="a", execute=FakeExecutor(), log=lambda *a: None)
    changed = [{**SMALL[0], "set": {"train.epochs": 2}}, *SMALL[1:]]
    with pytest.raises(RecipeError, match="stage 'a'.*a.done.json"):
        run_recipe(load_recipe(write_recipe(path, changed)), run_dir, resume=True, execute=FakeExecutor())


def test_the_cards_name_the_recipe_its_version_and_the_commit(tmp_path):
    path, run_dir = write_recipe(tmp_path / "r.yaml", SMALL, version=3), tmp_path / "run"
    run_recipe(
        load_recipe(path), run_dir, kit_out=tmp_path / "K", execute=FakeExecutor(), log=lambda *a: None
    )
    want = {"file": str(path.resolve()), "version": 3, "commit": source_commit(REPO, path)}
    run_card = json.loads((run_dir / "b" / "model_card.json").read_text())
    assert run_card["recipe"] == {**want, "stage": "b"}
    assert run_card["decoder"] == {"score_threshold": 0.3}  # the rest of the card is kept
    assert json.loads((tmp_path / "K" / "model_int8.json").read_text())["recipe"] == {**want, "stage": "kit"}
    assert not (run_dir / "kit").exists()  # the kit went where --kit-out said


def test_the_shipped_recipe_names_its_file_relative_to_the_repository():
    from keras_lmk.training.recipe import recipe_stamp

    stamp = recipe_stamp(load_recipe(SHIPPED), "kit")
    assert stamp["file"] == "recipes/real.yaml" and stamp["version"] == 2


def _git(repo: Path, *args: str) -> str:
    cmd = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def test_source_commit_is_the_head_with_dirty_for_changes_or_an_uncommitted_recipe(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "code.py").write_text("x = 1\n")
    (repo / "recipe.yaml").write_text("version: 1\n")
    _git(repo, "add", "code.py", "recipe.yaml")
    _git(repo, "commit", "-q", "-m", "one")
    head = _git(repo, "rev-parse", "HEAD")
    assert source_commit(repo, repo / "recipe.yaml") == head
    (repo / "notes.txt").write_text("an untracked file elsewhere changes nothing the recipe runs\n")
    assert source_commit(repo, repo / "recipe.yaml") == head
    (repo / "new.yaml").write_text("version: 1\n")  # a recipe that is not in the commit
    assert source_commit(repo, repo / "new.yaml") == head + "-dirty"
    (repo / "code.py").write_text("x = 2\n")
    assert source_commit(repo, repo / "recipe.yaml") == head + "-dirty"
    assert source_commit(tmp_path / "not-a-repo", repo / "recipe.yaml") == "unknown"


def test_dry_run_prints_the_exact_command_of_every_stage(tmp_path, capsys):
    run_dir = tmp_path / "r"
    assert recipe_main(["--recipe", str(SHIPPED), "--run-dir", str(run_dir), "--dry-run"]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line and not line.startswith("#")]
    r = str(run_dir)

    def weights(stage):
        return (
            "python -c 'from keras_lmk.cli import start_tensorflow; start_tensorflow(); from"
            f' keras_lmk.detector.model import load_model; load_model("{r}/{stage}/model.keras")'
            f'.save_weights("{r}/{stage}/model.weights.h5")\''
        )

    assert printed == [
        f"python -m keras_lmk.train --preset real --run-dir {r}/scratch --set grid.input_width=1280"
        " --set grid.input_height=768 --set data.ignore_regions= --set train.epochs=63"
        " --set train.steps_per_epoch=250",
        weights("scratch"),
        f"python -m keras_lmk.train --preset real --run-dir {r}/final-size --set data.ignore_regions="
        " --set train.epochs=24 --set train.steps_per_epoch=250 --set train.learning_rate=0.0004"
        f" --set train.warmup_epochs=0.2 --set model.weights_path={r}/scratch/model.weights.h5",
        weights("final-size"),
        f"python -m keras_lmk.ignore_regions --model {r}/final-size/model.keras"
        f" --out {r}/teacher/ignore_regions.json --threshold 0.5",
        f"python -m keras_lmk.train --preset real --run-dir {r}/complete-negatives --set train.epochs=5"
        " --set train.steps_per_epoch=250 --set train.learning_rate=0.0004 --set train.warmup_epochs=0.2"
        f" --set model.weights_path={r}/final-size/model.weights.h5"
        f" --set data.ignore_regions={r}/teacher/ignore_regions.json",
        weights("complete-negatives"),
        f"python -m keras_lmk.demo_assets --run {r}/complete-negatives --out {r}/kit --samples 1"
        " --localization-threshold 0.5 --lamp-refine --side-balanced --merge-across-classes"
        " --suppress-radius 16 --score-threshold 0.5",
    ]
    assert not run_dir.exists()  # a dry run writes nothing


def test_dry_run_on_resume_shows_what_is_left(tmp_path, capsys):
    path, run_dir = write_recipe(tmp_path / "r.yaml", SMALL), tmp_path / "run"
    with pytest.raises(StageFailed):
        run_recipe(load_recipe(path), run_dir, execute=FakeExecutor(interrupt="b"), log=lambda *a: None)
    args = ["--recipe", str(path), "--run-dir", str(run_dir), "--resume", "--dry-run", "--until", "b"]
    assert recipe_main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if not line.startswith("#")][0] == (
        f"python -m keras_lmk.train --run-dir {run_dir / 'b'} --resume"
    )
    assert sum("done" in line for line in out) == 2  # a and t


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "no such recipe file"),
        ("version: 1\nstages: [\n", "invalid YAML"),
        ("stages: []\n", "version"),
        ("version: 1\n", "stages"),
        ("version: 1\nstages: []\nextra: 1\n", "unknown key.*extra"),
    ],
)
def test_a_missing_or_malformed_recipe_file_exits_2_naming_it(tmp_path, capsys, text, message):
    path = tmp_path / "recipe.yaml"
    if text is not None:
        path.write_text(text)
    assert recipe_main(["--recipe", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and __import__("re").search(message, err), err
    assert not (tmp_path / "run").exists()


def test_the_commands_run_with_this_python_and_report_their_exit_code():
    from keras_lmk.training.recipe import run_command

    assert run_command(["python", "-c", "import sys; sys.exit(3 if sys.prefix else 4)"]) == 3


@pytest.mark.slow  # two real trainings: about 2 min of the 2-core CI; the stage logic is tested above without
def test_two_debug_stages_train_for_real_and_the_second_starts_from_the_first(tmp_path):
    """The one real-training test: the train CLI run in this process (one TensorFlow start-up) on a recipe
    of two debug stages; the second, at a learning rate too small to move anything, ends with the first's
    trained weights, which a fresh start would not."""
    import numpy as np

    from keras_lmk.detector.model import load_model
    from keras_lmk.train import main as train_main

    quick = {"train.epochs": 1, "train.calibrate_threshold": False, "train.trajectory_every": 1}
    stages = [
        {"name": "one", "run": "train", "preset": "debug", "set": {**quick, "train.steps_per_epoch": 2}},
        {
            "name": "two",
            "run": "train",
            "preset": "debug",
            "weights": "one",
            "set": {**quick, "train.steps_per_epoch": 1, "train.learning_rate": 1e-12},
        },
    ]
    path, run_dir = write_recipe(tmp_path / "r.yaml", stages), tmp_path / "run"

    def in_this_process(argv):  # the train CLI, and the weights command's Python
        return train_main(argv[3:]) if argv[1] == "-m" else exec(argv[2]) or 0

    run_recipe(load_recipe(path), run_dir, execute=in_this_process, log=lambda *a: None)
    one, two = (load_model(run_dir / n / "model.keras") for n in ("one", "two"))
    for w1, w2 in zip(one.trainable_weights, two.trainable_weights, strict=True):
        np.testing.assert_allclose(w2.numpy(), w1.numpy(), atol=1e-6, err_msg=w1.path)
    assert json.loads((run_dir / "two" / "model_card.json").read_text())["recipe"]["stage"] == "two"
