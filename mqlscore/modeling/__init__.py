"""Modelling: the split, the input matrix, LightGBM and the logistic regression,
calibration, the scorer, TreeSHAP and the packaged model."""
