"""Datasets of closed-loop trajectories: storage, collection, importers and training pairs."""
