"""Turning a composition into files: MIDI, audio through FluidSynth, pictures."""
