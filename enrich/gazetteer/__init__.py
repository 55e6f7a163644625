"""Offline gazetteer data (see README.md); a package so the TSV files ship in wheels."""
