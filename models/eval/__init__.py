"""Evaluation of the models and the arranger against held-out music."""
