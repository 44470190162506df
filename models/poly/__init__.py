"""Polyphonic piano music: REMI-like tokens, a keyboard-reduction corpus, the composer and its fine-tuning."""
