"""What a track becomes besides audio: MIDI, engraved scores, ABC/MusicXML exports, stems."""
