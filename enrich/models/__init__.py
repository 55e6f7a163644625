"""The shipped sentiment model files (see MODEL_CARD.md); a package so they install as package data."""
