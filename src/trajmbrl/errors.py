"""User-facing errors: the CLI prints their message alone, without a traceback."""

from __future__ import annotations

import re
from collections.abc import Mapping

#: ``{Owner.name}`` in an :class:`ArgumentError` template: argument ``name`` of ``Owner`` (a
#: settings dataclass or a library function)
_ARG = re.compile(r"\{([A-Za-z_]\w*)\.([a-z_]\w*)\}")


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


class ArgumentError(TrajmbrlError):
    """A bad library argument. ``template`` names arguments as ``{Owner.name}`` (e.g.
    ``{TrainConfig.patience}``, ``{rollout.particles}``); the message says ``name`` alone, and
    :meth:`named` says what a caller calls them (the CLI: its config keys)."""

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(self.named({}))

    def named(self, names: Mapping[str, str]) -> str:
        """The message with ``{Owner.name}`` replaced by ``names["Owner.name"]`` (else ``name``)."""
        return _ARG.sub(lambda m: names.get(f"{m[1]}.{m[2]}", m[2]), self.template)

    def arguments(self) -> list[str]:
        """The ``Owner.name`` references in the template, in order."""
        return [f"{m[1]}.{m[2]}" for m in _ARG.finditer(self.template)]
