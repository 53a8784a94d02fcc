"""The command's ends: a refusal in one line and exit 2, a bug in one line naming the log
file that holds its traceback and exit 3 (so a fuzzer never counts a bug as a refusal)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipeline import cli, ingest


def _run(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["mqlscore", *args])
    monkeypatch.delenv("MQLSCORE_DEBUG", raising=False)
    with pytest.raises(SystemExit) as done:
        cli.run()
    return int(done.value.code)


def test_a_refusal_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code = _run(monkeypatch, "score", "--export", str(tmp_path / "none"), "--out", str(tmp_path))
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "the export folder does not exist" in lines[0]


def test_a_bug_says_so_and_leaves_its_traceback_in_a_named_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    def broken(*_: object) -> None:
        raise KeyError("a column we forgot")

    monkeypatch.setattr(ingest, "load", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code = _run(
        monkeypatch, "ingest", "--raw", str(tmp_path / "r"), "--truth", str(tmp_path / "t")
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(lines) == 1 and "a bug in mqlscore (KeyError)" in lines[0]
    log = Path(lines[0].rsplit("the traceback is in ", 1)[1])
    assert log.parent == tmp_path and "a column we forgot" in log.read_text()
    assert "Traceback" in log.read_text()


@pytest.mark.parametrize("kind", ["MappingError", "Refusal"])  # ingest's own end, the CLI's
def test_a_refusal_whose_message_spans_lines_is_said_whole_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture, kind: str
) -> None:
    from mqlscore.refusal import Refusal
    from sources.intake import MappingError

    def refused(*_: object) -> None:  # a YAML error's message: the problem on its 2nd line
        raise {"MappingError": MappingError, "Refusal": Refusal}[kind](
            "mine.yaml: cannot read the mapping: while scanning a simple key\n"
            "  in line 5, column 3: could not find expected ':'"
        )

    monkeypatch.setattr(ingest, "load", refused)
    code = _run(
        monkeypatch, "ingest", "--raw", str(tmp_path / "r"), "--truth", str(tmp_path / "t")
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert "simple key in line 5, column 3: could not find expected ':'" in lines[0]
