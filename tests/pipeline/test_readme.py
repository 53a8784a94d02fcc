"""The README as a user runs it: every fenced bash block marked `<!-- readme-test -->`, in
order and as written, on a git and DVC copy of the project with the tiny world; and every
local link of README.md and docs/*.md resolves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import yaml

from tests.conftest import ROOT, tiny_params_dict
from tests.pipeline.test_dvc_repro import _copy_project, _run
from tests.pipeline.test_flat import _flat_file

MARKER = "<!-- readme-test -->"
MARKED = 7  # the blocks marked today: taking a marker off fails the count
# the sections run on one fresh clone each (two test files, so two workers share them)
START = {"Set up and run", "Score tonight's leads", "One flat file"}
OWN_DATA = {"Your own data", "Review"}
LINK = re.compile(r"\]\(([^)\s]+)\)")


def marked_blocks(text: str) -> list[tuple[str, str]]:
    """The section (its `## ` heading) and body of each fenced bash block on the line after
    a marker."""
    lines = text.splitlines()
    blocks, section = [], ""
    for at, line in enumerate(lines):
        if line.startswith("## "):
            section = line[3:]
        if line.strip() != MARKER:
            continue
        assert lines[at + 1] == "```bash", f"README line {at + 1}: a marker not before ```bash"
        end = lines.index("```", at + 2)
        blocks.append((section, "\n".join(lines[at + 2 : end])))
    return blocks


def run_sections(sections: set[str], tmp_path: Path) -> tuple[Path, list[str], dict[str, str]]:
    """The README's marked blocks of these sections, in order, each with `bash -e`, in a
    fresh copy of the project; the copy, what each block wrote to the terminal, and the
    environment they ran in."""
    blocks = [
        body
        for section, body in marked_blocks((ROOT / "README.md").read_text())
        if section in sections
    ]
    assert blocks, sections
    work = tmp_path / "project"
    work.mkdir(exist_ok=True)
    env = _git_project(work)
    said = []
    for block in blocks:
        start = time.monotonic()
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
        print(f"{time.monotonic() - start:6.1f} s  {block.splitlines()[0]}")
        assert done.returncode == 0, f"{block}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        said.append(done.stdout + done.stderr)
    return work, said, env


def _prose(text: str) -> list[str]:
    """The lines outside fenced blocks (a `#` in a bash block is no heading)."""
    kept, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            kept.append(line)
    return kept


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file (a repeated one gets -1, -2)."""
    found: set[str] = set()
    counts: dict[str, int] = {}
    for line in _prose(path.read_text()):
        heading = re.match(r"#{1,6} (.+)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            repeat = counts.get(slug, 0)
            counts[slug] = repeat + 1
            found.add(slug if repeat == 0 else f"{slug}-{repeat}")
    return found


def broken_links(files: list[Path]) -> list[str]:
    """Each link to a local file or anchor that does not resolve, as `file: target`."""
    broken = []
    for page in files:
        for line in _prose(page.read_text()):
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                    continue
                name, _, anchor = target.partition("#")
                dest = (page.parent / name) if name else page
                if not dest.exists() or (anchor and anchor not in anchors(dest)):
                    broken.append(f"{page.name}: {target}")
    return broken


def test_every_marker_stands_before_a_bash_block_a_test_runs() -> None:
    blocks = marked_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= MARKED
    assert all(body.strip() for _, body in blocks)
    assert {section for section, _ in blocks} <= START | OWN_DATA  # none left unrun


def test_every_local_link_of_the_readme_and_docs_resolves() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(pages) > 5
    assert broken_links(pages) == []
    linked = set(LINK.findall((ROOT / "README.md").read_text()))
    assert {f"docs/{page.name}" for page in pages[1:]} <= linked  # every page is reachable


def test_the_link_check_finds_a_broken_anchor_and_a_missing_file(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# A title\n\n## A title\n\n```bash\n# not a heading\n```\n\n"
        "[ok](#a-title) [again](#a-title-1) [code](#not-a-heading) [gone](#nowhere)\n"
        "[file](missing.md) [self](page.md#a-title) [web](https://example.com/x)\n"
    )
    assert broken_links([page]) == [
        "page.md: #not-a-heading",
        "page.md: #nowhere",
        "page.md: missing.md",
    ]


def _git_project(work: Path) -> dict[str, str]:
    """A copy of the project as a fresh clone has it: git (for `dvc exp run`) and DVC."""
    params = tiny_params_dict()
    default = yaml.safe_load((ROOT / "params.yaml").read_text())["score"]["lead_id_pattern"]
    params["score"]["lead_id_pattern"] = default  # the demo exports carry Salesforce's ids
    env = _copy_project(work, params)
    env |= {
        "GIT_AUTHOR_NAME": "readme",
        "GIT_AUTHOR_EMAIL": "readme@example.com",
        "GIT_COMMITTER_NAME": "readme",
        "GIT_COMMITTER_EMAIL": "readme@example.com",
    }
    shutil.copy(ROOT / ".gitignore", work / ".gitignore")
    (work / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    _run(["git", "init", "-q"], work, env)
    _run(["dvc", "config", "--unset", "core.no_scm"], work, env)
    _run(["git", "add", "-A"], work, env)
    _run(["git", "commit", "-q", "-m", "a fresh clone"], work, env)
    return env


def quickstart(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Set up, score tonight's leads, one flat file: on a fresh clone, in order (with the
    user's own spreadsheets beside it); the project and its environment. test_dvc_repro.py's
    `project`, the one real `dvc repro` of the suite, is this run."""
    (tmp_path / "project").mkdir()
    _flat_file(tmp_path / "project/leads.csv")  # the user's own spreadsheets
    _flat_file(tmp_path / "project/new_leads.csv", n=400, seed=1)
    work, _, env = run_sections(START, tmp_path)
    return work, env


def assert_scored(out: Path) -> None:
    """A published scoring set: every row scored or rejected, the scores file complete."""
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scored"] > 0
    assert manifest["rows_in"] == manifest["scored"] + manifest["rejected"]
    assert len(pd.read_csv(out / "lead_scores.csv")) == manifest["scored"]
