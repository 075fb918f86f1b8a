"""Rebuild a model from its recipe: every stage from scratch, each in its own folder of one run directory.

    python -m keras_lmk.recipe --recipe recipes/real.yaml --run-dir ~/runs/recipe            # from scratch
    python -m keras_lmk.recipe --recipe recipes/real.yaml --run-dir ~/runs/recipe --resume   # after a stop
    python -m keras_lmk.recipe --recipe recipes/real.yaml --run-dir ~/runs/recipe --dry-run  # the commands
    python -m keras_lmk.recipe --recipe recipes/real.yaml --run-dir ~/runs/recipe --resume \\
        --kit-out android_demo_assets                                                         # ship its kit

``recipes/real.yaml`` is the shipped model's recipe: train from scratch, continue at the final input size,
a teacher's ignore regions, train on with complete negatives, the kit (docs/training.md "Rebuilding the
shipped model"). ``--resume`` skips the stages recorded as done (``RUN/<stage>.done.json``) and continues an
interrupted training with ``python -m keras_lmk.train --resume``; ``--until STAGE`` stops after that stage.
The kit goes to ``RUN/<kit stage>/`` unless ``--kit-out`` names another folder. Format of a recipe and what
the run directory holds: keras_lmk/training/recipe.py.

Exit codes: 0 done; 2 a bad recipe file or run directory (the message names it); a stage that fails ends
the run with that stage's own exit code (1 failed, 2 bad input, 130 interrupted).
"""

from __future__ import annotations

import sys

from keras_lmk.cli import command, make_parser


def parse_args(argv=None):
    p = make_parser("python -m keras_lmk.recipe", __doc__)
    p.add_argument("--recipe", required=True, metavar="YAML", help="recipe file, e.g. recipes/real.yaml")
    p.add_argument("--run-dir", required=True, metavar="DIR", help="the run's folder: one subfolder a stage")
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --run-dir after an interruption"
    )
    p.add_argument("--until", metavar="STAGE", help="stop after this stage (default: run them all)")
    p.add_argument("--dry-run", action="store_true", help="print every stage's command; run nothing")
    p.add_argument(
        "--kit-out",
        metavar="DIR",
        help="write the kit here, e.g. android_demo_assets (default: RUN/<kit stage>)",
    )
    return p.parse_args(argv)


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    from keras_lmk.training.recipe import StageFailed, run_recipe
    from keras_lmk.training.recipe_file import load_recipe

    recipe = load_recipe(args.recipe)

    def log(line: str) -> None:
        print(line, flush=True)

    try:
        ran = run_recipe(
            recipe,
            args.run_dir,
            resume=args.resume,
            until=args.until,
            dry_run=args.dry_run,
            kit_out=args.kit_out,
            log=log,
        )
    except StageFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    if not args.dry_run:
        print(
            f"{recipe.path} version {recipe.version}: {len(ran)} stage(s) run, {args.run_dir} is complete"
            + (f" up to {args.until}" if args.until else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
