"""Generated numba source goes to real files named by a hash of their text.

numba's ``cache=True`` cannot cache code made with ``exec``; a file whose name is the
hash of its content can be cached and can never go stale.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType


def cache_dir() -> Path:
    root = os.environ.get("MSH_CACHE_DIR") or Path.home() / ".cache" / "msh"
    path = Path(root) / "generated"
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_source(prefix: str, source: str) -> ModuleType:
    """Write ``source`` to ``<cache>/<prefix>_<hash>.py`` (once) and import it."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    name = f"msh_gen_{prefix}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    path = cache_dir() / f"{name}.py"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        tmp.replace(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Fast:
    """Call a numba dispatcher through its compiled entry point once it has one.

    A dispatcher call resolves argument types each time, which for a Batch tuple of
    17 arrays costs ~3 µs per call; the entry point of the (single) compiled
    overload skips that. Calls that need a new overload go through the dispatcher.
    """

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self.entry = None

    def __call__(self, *args):
        if self.entry is not None:
            return self.entry(*args)
        result = self.dispatcher(*args)
        overloads = getattr(self.dispatcher, "overloads", {})
        if len(overloads) == 1:
            self.entry = next(iter(overloads.values())).entry_point
        return result
