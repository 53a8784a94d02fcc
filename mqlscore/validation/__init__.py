"""Validation: Great Expectations suites and the leakage audit."""
