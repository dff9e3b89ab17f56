"""User-facing errors: the CLI prints their message alone, without a traceback."""


class TrajmbrlError(Exception):
    """A problem with the user's input (config value, file, dataset) that has one clear message."""
