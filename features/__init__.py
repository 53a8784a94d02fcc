"""The feature library: point-in-time lead and account features."""
