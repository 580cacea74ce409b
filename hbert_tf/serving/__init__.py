"""Serving: SavedModel and Hugging Face exports, in-graph text signatures, predictions."""
