"""Small helpers shared by every layer: atomic writes, seeding, hashing."""
