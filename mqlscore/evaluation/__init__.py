"""Evaluation: ranking metrics, at-volume tables, intervals, calibration and the quality gate."""
