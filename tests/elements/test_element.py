"""The element registry: the naming rule that lets ``lookup`` import one module."""

from elements.element import REGISTRY, load_all


def test_every_kind_lives_in_its_own_file():
    load_all()
    for kind, cls in REGISTRY.items():
        if cls.__module__.startswith("elements."):  # not one a test defines
            category = cls.__module__.split(".")[1]
            assert cls.__module__ == f"elements.{category}.{kind.lower()}", kind
