"""Shared test setup: ``tests/`` on ``sys.path`` so every test can ``import elementkit``
(run an element's kernel and reference and compare them; see its docstring), and a
hypothesis profile without deadlines (a kernel's first call includes its JIT compile).

``MSH_MAX_EXAMPLES=N`` caps every hypothesis test at N examples: the reruns of the
suite without the JIT and with bounds checking (tests/test_modes.py) use it to stay
within the suite's time budget."""

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

sys.path.append(str(Path(__file__).resolve().parent))

settings.register_profile("msh", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("msh")


def pytest_collection_modifyitems(items):
    cap = os.environ.get("MSH_MAX_EXAMPLES")
    if not cap:
        return
    for item in items:
        test = getattr(item, "obj", None)
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        if current is not None and current.max_examples > int(cap):
            test._hypothesis_internal_use_settings = settings(current, max_examples=int(cap))
