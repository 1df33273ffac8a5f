"""Speech recognition on our own machine (Vosk)."""
