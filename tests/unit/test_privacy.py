"""What a message may quote of a cell: never a person, and never a whole huge cell."""

from __future__ import annotations

import time

from mqlscore.privacy import masked, shown


def test_emails_are_cut_to_their_domain_wherever_they_stand() -> None:
    assert masked("jo.smith@acme.com") == "…@acme.com"
    assert masked("from 'ann@x.io', bob@y.co.uk") == "from '…@x.io', …@y.co.uk"
    assert masked("no address here @ all") == "no address here @ all"


def test_a_huge_cell_without_an_address_is_masked_at_once() -> None:
    started = time.perf_counter()  # the old pattern backtracked: minutes for 200 kB
    assert masked("y" * 200_000) == "y" * 200_000
    assert masked("y" * 100_000 + " a@b.com") == "y" * 100_000 + " …@b.com"
    assert time.perf_counter() - started < 1


def test_a_long_cell_is_quoted_by_its_start_and_length_after_masking() -> None:
    said = shown("z" * 75 + " jane.doe@acme.com " + "z" * 1000, "IsWon")
    assert said.startswith("'" + "z" * 75 + " …@a") and "jane" not in said
    assert said.endswith("… (1,087 characters)")
    assert shown("Closed Won", "Stage") == "'Closed Won'"
    assert shown("x" * 500, "Email") == "(a value of a personal column, not shown)"


def test_a_column_about_a_person_is_hidden_and_other_names_are_not() -> None:
    hidden = "(a value of a personal column, not shown)"
    for column in ("FirstName", "Last Name", "Name", "MobilePhone", "Street", "owner_name"):
        assert shown("Jane", column) == hidden, column
    for column in ("StageName", "Campaign Name", "LeadSource", "Company"):
        assert shown("Closed Won", column) == "'Closed Won'", column
