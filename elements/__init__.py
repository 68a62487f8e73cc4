"""msh elements: one file per element, registered by class name.

numba's on-disk cache notices when a function's own file changes, not when a function
it calls changes in another file: an edited helper would leave stale machine code
running. Unless ``NUMBA_CACHE_DIR`` is set, the cache therefore lives in a directory
named by a hash of every Python source of ``elements/`` and ``msh/``.
"""

import hashlib
import os
from pathlib import Path


def _source_hash() -> str:
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in ("elements", "msh"):
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


if "NUMBA_CACHE_DIR" not in os.environ:
    _base = Path(os.environ.get("MSH_CACHE_DIR") or Path.home() / ".cache" / "msh")
    os.environ["NUMBA_CACHE_DIR"] = str(_base / f"numba-{_source_hash()}")
    import sys

    if "numba" in sys.modules:  # numba read its configuration already
        from numba.core import config as _config

        _config.reload_config()
