"""What messages, logs and reports may show of a cell: never a person.

Refusals quote the value that broke a rule, so a user can find it; when the value is an
email (a shifted header puts one under "CreatedDate") or sits in a column that names a
person, the message shows its shape instead.
"""

from __future__ import annotations

import re

EMAIL_IN_TEXT = re.compile(r"[^@\s'\"]+@([^@\s'\"]+\.[A-Za-z]{2,})")
PERSONAL_COLUMN = re.compile(
    r"e-?mail|name|phone|mobile|fax|street|address|birth|salutation", re.IGNORECASE
)


def masked(text: str) -> str:
    """Text with every email address cut to its domain (`…@acme.com`)."""
    return EMAIL_IN_TEXT.sub(lambda m: f"…@{m.group(1)}", text)


def shown(value: object, column: str = "") -> str:
    """A cell as a message may quote it: hidden in a column that names a person (email,
    name, phone, address), emails cut to their domain anywhere else."""
    if PERSONAL_COLUMN.search(column):
        return "(a value of a personal column, not shown)"
    return repr(masked(str(value)))
