"""Every `mqlscore` entry point fuzzed, a seeded sample: each case ends in exit 0 with its
counts adding up (and, for a change a reader cannot tell, the clean run's output), or in
exit 2 with one line (`validate`: also exit 1 naming its failed checks); a kill at a
publish point leaves the old set or the new one. Never a bug, a signal, a hang or a
wrong output. `python bench/fuzz.py --cases 2400` runs the full set; this is 28 of its
cases, the entry points in turn. The fuzzer runs in its own process: it forks a child per
case, which is only safe from a process that has not started thread pools (this one has)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.fuzz import ENTRIES
from tests.conftest import ROOT

pytestmark = pytest.mark.smoke


def test_a_seeded_sample_of_every_entry_point_ends_in_exit_0_1_or_2(tmp_path: Path) -> None:
    work = tmp_path / "work"
    args = ["--cases", "28", "--spread", "--seed", "1", "--jobs", "2", "--timeout", "90"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench/fuzz.py"), *args, "--work", str(work)]
        + ["--out", str(tmp_path / "fuzz.md")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = [json.loads(line) for line in (work / "results.jsonl").read_text().splitlines()]
    assert len(results) == 28 and {r["entry"] for r in results} == set(ENTRIES)
    failed = [r for r in results if r["outcome"] not in ("exit 0", "exit 1", "exit 2")]
    assert not failed, "\n".join(f"{r['entry']}, {r.get('mutation')}: {r['why']}" for r in failed)
    assert all(r["outcome"] != "exit 1" or r["entry"] == "validate" for r in results)
