"""Register the trajmbrl environments with Gymnasium once Gymnasium is imported.

Importing Gymnasium costs most of a second; ``import trajmbrl`` (and so ``trajmbrl --help``)
should not pay it. So: register now if Gymnasium is already loaded, else when it gets imported
(a one-shot post-import hook on ``sys.meta_path``).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any


def _register(_module: ModuleType | None = None) -> None:
    loading = sys.modules.get("trajmbrl.envs")
    if loading is not None and not hasattr(loading, "register_envs"):
        return  # trajmbrl.envs is importing Gymnasium itself and registers when it finishes
    from trajmbrl.envs import register_envs

    register_envs()


class _AfterGymnasium(importlib.abc.MetaPathFinder):
    """Finds ``gymnasium`` through the other finders and registers right after it executes."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "gymnasium":
            return None
        sys.meta_path.remove(self)  # one shot; also keeps find_spec below from recursing
        spec = importlib.util.find_spec(name)
        loader = getattr(spec, "loader", None)
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            _register(module)

        loader.exec_module = exec_module
        return spec


def register_on_gymnasium_import() -> None:
    """Register now when Gymnasium is loaded, otherwise as soon as it is imported."""
    if "gymnasium" in sys.modules:
        _register()
    elif not any(isinstance(f, _AfterGymnasium) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterGymnasium())
