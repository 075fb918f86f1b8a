"""Every relative link and image in the README and docs/ points at a file that exists.

Docs move and images get renamed (the README once pointed at a render that a later model replaced); a dead
link is what a new user meets first."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    ROOT / "README.md",
    ROOT / "android_demo_assets" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_targets(text: str) -> list[str]:
    """The link targets of a markdown text that name a file of this repository (no URL, no bare anchor)."""
    out = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        out.append(target.split("#", 1)[0])
    return out


def test_relative_targets_keeps_files_and_drops_urls_and_anchors():
    text = "[a](docs/x.md#sec) ![b](img/y.jpg) [c](https://e.org/z) [d](#local) [e](mailto:m@e.org)"
    assert relative_targets(text) == ["docs/x.md", "img/y.jpg"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_names_an_existing_file(page):
    missing = [t for t in relative_targets(page.read_text()) if not (page.parent / t).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text().splitlines()
    command = readme[readme.index("# 2. install, then run the tests (exactly what .ci/run does)") + 1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert command.replace("pip install -e", "pip install -q -e") in ci.splitlines()
