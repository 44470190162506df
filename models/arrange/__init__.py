"""The arranger: form, key and mode, chords by Viterbi, and band parts under a melody (torch-free)."""
