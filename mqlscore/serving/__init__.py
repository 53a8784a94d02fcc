"""Serving: nightly batch scoring, hand-overs, the published tables, reasons and drift."""
