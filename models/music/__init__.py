"""Torch-free music code: melodies, tokens, styles, corpora and MIDI import."""
