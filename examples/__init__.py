"""Example genweave applications."""
