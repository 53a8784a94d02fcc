"""What messages, logs and reports may show of a cell: never a person.

Refusals quote the value that broke a rule, so a user can find it; when the value is an
email (a shifted header puts one under "CreatedDate") or sits in a column that names a
person, the message shows its shape instead.
"""

from __future__ import annotations

import re

import pandas as pd

# An address starts where a run of non-separators starts (the look-behind), and a run is
# never given back (possessive): linear in the text, so a 200 kB cell with no `@` is
# scanned once, not once per character (that was quadratic: minutes for one message).
EMAIL_IN_TEXT = re.compile(r"(?<![^@\s'\"])[^@\s'\"]++@([^@\s'\"]+\.[A-Za-z]{2,})")
# A column about a person by its name (First Name, Email, Phone, Street...); a name that
# is not a person's (StageName, Campaign Name) is not one
PERSONAL_COLUMN = re.compile(
    r"(first|last|full|given|family|middle|sur|nick|contact|lead|user|owner|person)[ _-]?name"
    r"|^name$|e-?mail|phone|mobile|^cell|fax|street|address|zip|postal|birth|salutation"
    r"|linkedin|twitter",
    re.IGNORECASE,
)
PHONE = r"\+?[\d(][\d\s().-]*\d[\s.-]\d{2,4}[\s.-]?\d{2,4}"
SHOWN_CHARS = 80  # a longer cell is quoted by its start and its length: one readable line


def masked(text: str) -> str:
    """Text with every email address cut to its domain (`…@acme.com`)."""
    return EMAIL_IN_TEXT.sub(lambda m: f"…@{m.group(1)}", text)


def shown(value: object, column: str = "") -> str:
    """A cell as a message may quote it: hidden in a column that names a person (email,
    name, phone, address), emails cut to their domain anywhere else, and a long cell
    cut to its first characters (masked first, so no address is cut into view)."""
    if PERSONAL_COLUMN.search(column):
        return "(a value of a personal column, not shown)"
    text = masked(str(value))
    if len(text) > SHOWN_CHARS:
        return f"{text[:SHOWN_CHARS]!r}… ({len(text):,} characters)"
    return repr(text)


def looks_like_phone(text: pd.Series) -> pd.Series:
    """Cells that read as a phone number: 9 digits or more in a phone's shape, not a date."""
    dated = text.str.match(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", na=False)
    shaped = text.str.fullmatch(PHONE, na=False) & (text.str.count(r"\d") >= 9)
    return shaped & ~dated
