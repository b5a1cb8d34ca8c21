"""Checks of the data before a model is trained (sample size, leakage)."""
