"""Robustness suite: recorded client histories and the checkers that judge them (issue 13)."""
