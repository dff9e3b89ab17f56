"""Parameterised feedback controllers; theta (their parameter vector) is part of every dataset."""
