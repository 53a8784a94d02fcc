"""What the user can fix, apart from what is a bug.

A `Refusal` ends a command in one line and exit code 2 (bad input, bad params, too little
data, a missing file, no champion yet). Anything else that escapes a command is a bug:
the command says so in one line, writes the traceback to a log file the line names, and
exits 3, so a fuzzer (or a user) can tell a masked bug from a refusal.
"""

from __future__ import annotations

import errno


class Refusal(Exception):
    """An input, a param or the state of the project the user can fix: one line, exit 2."""


class MissingInput(Refusal, FileNotFoundError):
    """A file or folder a command needs is not there."""


class BrokenModel(Refusal, ValueError):
    """A model folder whose files are not the ones saved (cut short, changed, missing) or
    whose model.json does not read: one line naming the file."""


class UnreadableInput(Refusal, ValueError):
    """A file a command needs is there but cannot be read as what it should be (a cut or
    overwritten Parquet table)."""


# Errors of the machine the user fixes (space, rights, a lock held by another run)
ENVIRONMENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT}
)


def one_line(err: BaseException) -> str:
    """An error's message as the one line a command prints: its lines joined (a YAML or
    library message spans several; cutting it to the first lost what was wrong)."""
    return " ".join(line.strip() for line in str(err).splitlines() if line.strip())


def is_refusal(err: BaseException) -> bool:
    """Whether an error is the user's to fix (a `Refusal`, or the machine's: a full disk,
    a file not found or not readable, another run's lock, an unknown model version)."""
    if isinstance(err, Refusal):
        return True
    if isinstance(err, BlockingIOError | IsADirectoryError | NotADirectoryError):
        return True
    if isinstance(err, OSError) and err.errno in ENVIRONMENT_ERRNOS:
        return True
    return _is_unknown_model(err)


def _is_unknown_model(err: BaseException) -> bool:
    try:
        from mlflow.exceptions import MlflowException
    except ImportError:  # pragma: no cover - mlflow is a dependency
        return False
    return isinstance(err, MlflowException) and err.error_code == "RESOURCE_DOES_NOT_EXIST"
