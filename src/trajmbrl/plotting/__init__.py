"""Figures, each a function of a tidy frame; the statistics they draw come from reports/."""
