"""Stop-word lists (see README.md); a package so the .txt files ship in wheels."""
