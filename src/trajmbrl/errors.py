"""User-facing errors: the CLI prints their message alone, without a traceback."""


class TrajmbrlError(Exception):
    """A problem with the user's input (config value, file, dataset) that has one clear message."""


def wrapped_error(exc: BaseException) -> TrajmbrlError | None:
    """The TrajmbrlError behind ``exc`` (e.g. raised by a config resolver and wrapped by
    OmegaConf, via ``__cause__`` or ``__context__``), or None."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, TrajmbrlError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None
