"""File I/O at the edges: atomic writes so a crash never leaves half a file."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from mqlscore.refusal import MissingInput, UnreadableInput


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_orphans(target: Path) -> list[Path]:
    """Delete temporary files left beside `target` by writers that died (killed mid-write).

    Temporary names carry their writer's PID; files of live writers are left alone.
    """
    name, removed = Path(target).name, []
    for path in Path(target).parent.glob(f".{name}.*.tmp"):
        pid = path.name[len(name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextmanager
def one_writer(out: Path) -> Iterator[None]:
    """Hold `out` for this process: a second writer is refused, naming the holder's PID
    (the lock goes with the process, even when it is killed)."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / ".mqlscore.lock", "a+")  # noqa: SIM115  (held for the block)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise BlockingIOError(f"{out}: another run (PID {holder}) is writing here") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


@contextmanager
def staging_folder(out: Path, prefix: str) -> Iterator[Path]:
    """A hidden work folder inside `out` (`.<prefix>.<pid>.*`), removed on exit, with
    `out` held for this process (`one_writer`: one writer per folder, whichever command);
    folders left by killed runs (their process gone) are removed first, so no copy of an
    export stays behind for good."""
    with one_writer(out):
        finish_publish(out)  # a killed run's staged set lands before its folder is removed
        for path in out.glob(f".{prefix}.*"):
            pid = path.name[len(prefix) + 2 :].split(".", 1)[0]
            if path.is_dir() and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix=f".{prefix}.{os.getpid()}.", dir=out) as tmp:
            yield Path(tmp)


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; move it into place only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(target)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent
    )
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # like a normal new file, not mkstemp's owner-only mode
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_with(target: Path, write: Callable[[Path], None]) -> None:
    with atomic_path(target) as tmp:
        write(tmp)


def write_parquet(frame: pd.DataFrame, target: Path) -> None:
    """Write a frame as Parquet, atomically."""
    _write_with(target, lambda tmp: frame.to_parquet(tmp, index=False))


def write_json(data: Any, target: Path) -> None:
    """Write JSON (sorted keys, stable floats), atomically."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    _write_with(target, lambda tmp: tmp.write_text(text))


def write_text(text: str, target: Path) -> None:
    """Write a text file, atomically."""
    _write_with(target, lambda tmp: tmp.write_text(text))


def read_tables(folder: Path, names: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """Read `<folder>/<name>.parquet` for each name, naming the missing file if any."""
    tables = {}
    for name in names:
        path = Path(folder) / f"{name}.parquet"
        if not path.exists():
            raise MissingInput(f"missing input table {path}")
        tables[name] = read_table(path)
    return tables


def read_optional_tables(folder: Path, names: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """The tables of `names` the folder has (a source may lack each): absent, not there."""
    present = tuple(n for n in names if (Path(folder) / f"{n}.parquet").exists())
    return read_tables(folder, present)


def read_table(path: Path) -> pd.DataFrame:
    """A Parquet table; one that cannot be read (cut, overwritten, not Parquet) is refused
    naming it and what the reader said, not a pyarrow traceback."""
    from pyarrow import ArrowException

    try:
        return pd.read_parquet(path)
    except (ArrowException, OSError, ValueError) as err:
        if isinstance(err, OSError) and err.errno is not None:
            raise  # the machine's (a missing or unreadable file): said as such
        said = " ".join(str(err).split())[:200]
        raise UnreadableInput(f"{path}: not a readable Parquet table ({said})") from err


EXPORT_FILE = "export.json"


def read_export_info(folder: Path) -> dict:
    """What the ingest stage recorded about the source (`export.json`); one that is not a
    JSON object (cut, overwritten) is refused naming it."""
    path = Path(folder) / EXPORT_FILE
    if not path.exists():
        return {}
    try:
        info = json.loads(path.read_text())
    except ValueError as err:  # JSONDecodeError, or bytes that are not text
        raise UnreadableInput(f"{path}: not readable JSON ({err})") from err
    if not isinstance(info, dict):
        raise UnreadableInput(f"{path}: expected a JSON object, found {type(info).__name__}")
    return info


def read_export_time(folder: Path) -> pd.Timestamp:
    """When the export was taken (from `export.json`); an export that does not say is
    refused rather than dated now, which would silently shift every recency feature."""
    path = Path(folder) / EXPORT_FILE
    if not Path(folder).is_dir():
        raise MissingInput(f"{folder}: the export folder does not exist")
    if not path.exists():
        raise MissingInput(
            f"{folder}: no {EXPORT_FILE} says when the export was taken; "
            "pass --run-date YYYY-MM-DD (the export's date)"
        )
    try:
        value = json.loads(path.read_text())["exported_at"]
        if not isinstance(value, str) or not re.match(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(f"{value!r} is not an ISO 8601 time")  # 'yesterday' would do
        stamp = pd.Timestamp(value)
    except (ValueError, KeyError, TypeError) as err:
        raise MissingInput(
            f"{path}: no readable exported_at ({err}); pass --run-date YYYY-MM-DD"
        ) from err
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


# Cells web forms and CRMs leave for "nothing".
PLACEHOLDERS = frozenset(
    {"", "null", "NULL", "Null", "N/A", "n/a", "NA", "#N/A", "None", "none", "-", "--", "nan"}
)


def sniff_csv(raw: bytes) -> tuple[str, str]:
    """Encoding and separator of CSV bytes (a sample will do): UTF-8 with or without BOM,
    else Windows-1252, else Latin-1; comma, semicolon, tab or pipe. Empty or binary bytes
    are refused."""
    import csv

    if not raw.strip():
        raise ValueError("the file is empty")
    if b"\x00" in raw[:4096]:
        raise ValueError("not a text file (binary bytes); expected a CSV export")
    try:
        text, encoding = raw.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError as err:
        if err.start >= len(raw) - 4:  # a sample cut inside a character
            text, encoding = raw[: err.start].decode("utf-8-sig"), "utf-8-sig"
        else:  # Windows' code page (Excel's "CSV"): O’Neil's quote, €; else Latin-1
            encoding = "cp1252" if _decodes(raw, "cp1252") else "latin-1"
            text = raw.decode(encoding)
    head = "\n".join(text.splitlines()[:20])
    try:
        sep = csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        sep = ","
    return encoding, sep


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def read_yaml(path: Path, max_bytes: int = 1 << 20, max_nodes: int = 100_000) -> Any:
    """A YAML file (safe types only), bounded: a file over `max_bytes`, or one whose
    aliases would expand past `max_nodes` values (a "billion laughs" bomb) is refused
    with ValueError before anything is built from it."""
    import yaml

    text = Path(path).read_text()
    if len(text) > max_bytes:
        raise ValueError(f"{path}: {len(text):,} bytes, more than a YAML file here may hold")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded(node, {}) > max_nodes:
            raise ValueError(f"{path}: its aliases expand past {max_nodes:,} values")
        return None if node is None else loader.construct_document(node)
    except RecursionError as err:
        raise ValueError(f"{path}: nested too deeply to read") from err
    finally:
        loader.dispose()


def _expanded(node: Any, memo: dict[int, int]) -> int:
    """How many values a YAML node stands for once its aliases are expanded."""
    import yaml

    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a node that refers to itself counts once
    if isinstance(node, yaml.SequenceNode):
        memo[id(node)] = 1 + sum(_expanded(c, memo) for c in node.value)
    elif isinstance(node, yaml.MappingNode):
        memo[id(node)] = 1 + sum(_expanded(k, memo) + _expanded(v, memo) for k, v in node.value)
    return memo[id(node)]


def file_md5(path: Path) -> str:
    """MD5 of a file's bytes: the hash DVC records for a file output."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


FAULT_ENV = "MQLSCORE_FAULT"  # a fault point's name: the process kills itself there


def fault(point: str) -> None:
    """A named point where a test or the fuzzer (`bench/fuzz.py`) may kill this process
    (`MQLSCORE_FAULT=<point>`: SIGKILL, as the machine or an operator would), to check
    what a kill there leaves behind. Unset, it does nothing."""
    if os.environ.get(FAULT_ENV) == point:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


JOURNAL = ".publishing.json"  # in `out` while a set is moved in: what lands, from where


def publish(staged: list[Path], out: Path, drop: tuple[str, ...] = ()) -> None:
    """Move finished files (or folders) into `out` as one set, the last one last (the
    manifest, which says the run is complete); first delete the files named in `drop`
    that this run does not replace, so no earlier run's output stays beside it.

    Moves are atomic one by one (same file system), a set of them is not: so the plan is
    written first (`.publishing.json`, itself atomically), and a run killed halfway
    leaves it with the staged files. The next command into `out` finishes that plan
    before anything else (`finish_publish`), so the folder holds the old set or the new
    one, never a mix, past the moment of the kill; a reader that meets the journal
    first (`mqlscore track`) refuses the folder. SIGINT and SIGTERM wait for the moves.

    Fault points (see `fault`): `publish:start`, `publish:journal`, `publish:dropped`,
    `publish:moved:<k>` after the k-th move, `publish:end`."""
    import signal

    held = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        fault("publish:start")
        names = {path.name for path in staged}
        plan = {
            "pid": os.getpid(),
            "drop": [name for name in drop if name not in names],
            "moves": [[str(Path(path).resolve()), path.name] for path in staged],
        }
        write_json(plan, out / JOURNAL)
        fault("publish:journal")
        _carry_out(plan, out)
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)


def _carry_out(plan: dict, out: Path) -> None:
    """Do a publish plan, from wherever it stopped: each staged file not yet moved is
    moved (a folder replaces the folder of its name), then the journal goes."""
    for name in plan["drop"]:
        _remove(out / name)
    fault("publish:dropped")
    for k, (source, name) in enumerate(plan["moves"], 1):
        if os.path.lexists(source):
            if Path(source).is_dir():
                _remove(out / name)  # os.replace will not put a folder over a folder
            os.replace(source, out / name)
        fault(f"publish:moved:{k}")
    (out / JOURNAL).unlink(missing_ok=True)
    fault("publish:end")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def finish_publish(out: Path) -> bool:
    """Finish the publish a killed run left halfway in `out` (its journal and staged files
    are still there), so the folder holds that run's whole set; whether there was one.
    A journal whose writer is still alive is left to it."""
    path = Path(out) / JOURNAL
    if not path.exists():
        return False
    try:
        plan = json.loads(path.read_text())
        pid, moves = int(plan["pid"]), plan["moves"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UnreadableInput(
            f"{path}: an interrupted publish that cannot be read ({err})"
        ) from err
    if pid != os.getpid() and _alive(pid):
        return False
    import logging

    left = sum(os.path.lexists(source) for source, _ in moves)
    logging.getLogger(__name__).warning(
        "%s: finishing the publish of a run that was stopped (PID %d): %d of %d file(s) to move",
        out,
        pid,
        left,
        len(moves),
    )
    _carry_out(plan, Path(out))
    return True


def date_order(values: pd.Series) -> bool | None:
    """Whether numeric dates (01/10/2025) in these values put the day first: True when a
    first number is above 12, False when a second one is, None when none shows it.
    Both at once is a ValueError naming a value of each: one file, one order."""
    parts = values.astype("string").str.extract(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-]\d{2,4}")
    numbers = parts.astype(float)
    days, months = numbers[0] > 12, numbers[1] > 12
    if days.any() and months.any():
        raise ValueError(
            f"mixes day-first ({values[days].iloc[0]!r}) and month-first "
            f"({values[months].iloc[0]!r}) dates"
        )
    return True if days.any() else False if months.any() else None
