"""Torch-free music code: melody, tokens, styles, corpora, MIDI import, keys and chords."""
