"""Logging and progress for entry points: rich on a terminal, plain lines otherwise."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("mqlscore")


def interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


def configure_logging(quiet: bool = False) -> None:
    """Set up the root logger once, from an entry point."""
    level = logging.WARNING if quiet else logging.INFO
    if interactive():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False, rich_tracebacks=False)
        fmt = "%(message)s"
    else:
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=fmt, handlers=[handler], force=True)
    for noisy in ("mlflow", "alembic", "great_expectations", "urllib3", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar on a terminal, or a log line per item otherwise.

    Generators are consumed lazily (never held in memory); without `total` their bar
    counts up without an end.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if interactive() and log.isEnabledFor(logging.INFO):
        from rich.progress import track

        yield from track(items, description=description, total=total, transient=True)
        return
    for i, item in enumerate(items, 1):
        log.info("%s: %d/%s", description, i, total if total is not None else "?")
        yield item
