"""User-facing errors that name the place: ``path:line:col: error: what`` (+ a hint).

Loading and validation collect every problem into an ``ErrorList`` before failing, so
a user fixes a file in one pass (as Click configures every element even after one
fails). The CLI prints ``GraphError`` without a traceback and exits with status 2.
"""

from __future__ import annotations

from dataclasses import dataclass

from msh.graph import NOWHERE, Where


@dataclass(frozen=True)
class Problem:
    """One error: where, what (one line), and an optional hint (one line)."""

    where: Where
    message: str
    hint: str = ""

    def __str__(self) -> str:
        place = f"{self.where}: " if self.where.line else f"{self.where.file}: "
        text = f"{place}error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class GraphError(Exception):
    """Bad input (a YAML file, a graph, a parameter): its problems, in file order."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ErrorList:
    """Collects problems; duplicates (same place and text) are kept once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self._seen: set[Problem] = set()

    def add(self, where: Where | None, message: str, hint: str = "") -> None:
        problem = Problem(where or NOWHERE, message, hint)
        if problem not in self._seen:
            self._seen.add(problem)
            self.problems.append(problem)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def __len__(self) -> int:
        return len(self.problems)

    def raise_if_any(self) -> None:
        """Raise a ``GraphError`` with the problems sorted by file, line and column."""
        if self.problems:
            order = sorted(
                self.problems, key=lambda p: (p.where.file, p.where.line, p.where.col)
            )
            raise GraphError(order)


def label(name: str, kind: str) -> str:
    """Click's landmark for an element: ``'fw :: IPFilter'``."""
    return f"'{name} :: {kind}'"


class UserError(Exception):
    """A bad request that is not about a graph file (a missing trace, no graphviz)."""
