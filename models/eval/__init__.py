"""Evaluation: objective metrics, the n-gram baseline and ``tunesmith evaluate``."""
