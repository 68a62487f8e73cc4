"""Shared test setup: ``tests/`` on ``sys.path`` so every test can ``import elementkit``
(run an element's kernel and reference and compare them; see its docstring), and a
hypothesis profile without deadlines (a kernel's first call includes its JIT compile)."""

import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

sys.path.append(str(Path(__file__).resolve().parent))

settings.register_profile("msh", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("msh")
