"""Model backends: the built-in models shipped with genweave, loaded with no download."""
