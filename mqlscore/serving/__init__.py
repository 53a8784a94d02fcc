"""Serving: nightly batch scoring, hand-overs, the published tables, reasons, drift and
the write-back to the CRM."""
