"""Figures and tables, each a function of a tidy metrics table."""
