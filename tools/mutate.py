"""Mutation testing of one module with its sibling tests (a developer command, not part of CI).

    python -m tools.mutate keras_lmk/detector/targets.py          # with tests/test_targets.py
    python -m tools.mutate keras_lmk/inference/tracking.py --tests tests/test_tracking.py tests/test_x.py
    python -m tools.mutate keras_lmk/detector/decode.py --survivors   # and each survivor's diff

mutmut 3 reads ``[tool.mutmut]`` in pyproject.toml (the numpy-core modules and their tests); this narrows it
to one module and the tests that cover it, so a run takes minutes on 2 cores instead of hours. It works in
``mutants/`` (git-ignored, rebuilt each run) and ends with the module's kill ratio and its survivors.
docs/mutation.md has the measured ratios.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections import Counter
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("module", help="source file to mutate, e.g. keras_lmk/detector/targets.py")
    ap.add_argument("--tests", nargs="+", help="test files to run (default: tests/test_<module name>.py)")
    ap.add_argument("--jobs", type=int, default=1, help="parallel mutant runs (default 1)")
    ap.add_argument("--survivors", action="store_true", help="print the diff of every surviving mutant")
    args = ap.parse_args(argv)
    module = Path(args.module)
    tests = args.tests or [f"tests/test_{module.stem}.py"]
    for path in (module, *map(Path, tests)):
        if not path.is_file():
            ap.error(f"{path}: no such file (run from the repository root)")

    # a fresh mutants/ each run: mutmut 3 takes a file it copied unmutated in an earlier run (another module)
    # for one it already mutated, and would find no mutant in it
    shutil.rmtree("mutants", ignore_errors=True)
    import mutmut.configuration

    cfg = mutmut.configuration.config()  # pyproject's [tool.mutmut], before mutmut's CLI reads it
    cfg.only_mutate = [str(module)]
    cfg.pytest_add_cli_args_test_selection = list(tests)
    from mutmut.__main__ import cli
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code

    prefix = ".".join(module.with_suffix("").parts) + ".*"
    try:
        cli(["run", "--max-children", str(args.jobs), prefix], standalone_mode=False)
    except SystemExit as e:
        if e.code:
            return int(e.code)
    data = SourceFileMutationData(path=module)
    data.load()
    status = {name: status_by_exit_code[code] for name, code in data.exit_code_by_key.items()}
    counts = Counter(status.values())
    total = len(status)
    killed = counts["killed"] + counts["timeout"] + counts["caught by type check"]
    print(f"\n{module}: {killed}/{total} killed ({100 * killed / max(total, 1):.1f} %); {dict(counts)}")
    for name in sorted(n for n, s in status.items() if s not in ("killed", "timeout")):
        print(f"  {status[name]:9s} {name}")
        if args.survivors:
            cli(["show", name], standalone_mode=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
