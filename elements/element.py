"""The element model: what every element declares, and the registry that finds it.

An element is one class in one file. It declares its ports (Click's notation), a
pydantic ``Config`` (unknown keys rejected), the annotations it ``reads`` and
``writes``, its ``state`` kind, its named ``drops`` (reasons a packet can be dropped
for), and one numba kernel ``kernel(b, i, s, inp) -> int``: ``inp`` is the input port the
packet arrived on; the result is the output port, or ``-1 - k`` to drop the packet for reason ``drops[k]``. ``s`` is the element's state,
a tuple of numpy arrays built once from the config by ``make_state``.

A plain-Python ``reference`` computes the same thing for tests.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from elements.jit import inlined
from elements.ports import PortSpec, parse_ports

# Header fields and annotations an element may declare in ``reads``/``writes``.
# "ip", "tcp", "udp", "icmp", "ether" stand for header bytes; the rest are Batch arrays.
FIELDS = frozenset(
    {"ether", "ip", "ip.ttl", "ip.sum", "ip.src", "ip.dst", "l4.ports", "tcp", "tcp.sum", "udp",
     "udp.sum", "icmp", "payload", "head", "length", "l3", "l4", "flags", "proto", "saddr",
     "daddr", "sport", "dport", "flow_hash", "paint", "dst_anno", "timestamp"}
)
STATE_KINDS = ("none", "per-flow", "global")


class ElementConfig(BaseModel):
    """Base of element configs: unknown keys are errors, values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NoConfig(ElementConfig):
    pass


# The kernel return value of an element that keeps the packet (a Queue): the row's
# bytes have been copied into the element's state; the element reports how many it
# holds as its "held" counter, and a pull element releases them later.
HELD = -(1 << 20)


def drop_code(reason_index: int) -> int:
    """The kernel return value that drops a packet for ``drops[reason_index]``."""
    return -1 - reason_index


# ``drop_code`` for kernels. Code that validates a graph calls ``drop_code``: calling the
# compiled one from Python loads numba's compiler (~0.3 s), which validation never needs.
drop = inlined(drop_code)


class UnknownKindError(KeyError):
    def __init__(self, kind: str, known: list[str]):
        self.kind = kind
        self.suggestions = difflib.get_close_matches(kind, known, n=3, cutoff=0.5)
        super().__init__(kind)

    def __str__(self) -> str:
        hint = f"; did you mean {' or '.join(repr(s) for s in self.suggestions)}?" if self.suggestions else ""
        return f"unknown element kind {self.kind!r}{hint}"


REGISTRY: dict[str, type[Element]] = {}


@dataclass
class Element:
    """Base class; subclasses register themselves under their class name."""

    name: str
    config: ElementConfig = field(default_factory=NoConfig)

    ports: ClassVar[str] = "1/1"
    Config: ClassVar[type[ElementConfig]] = NoConfig
    reads: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[tuple[str, ...]] = ()
    state_kind: ClassVar[str] = "none"
    drops: ClassVar[tuple[str, ...]] = ()
    # True when running the element twice in a row equals running it once, with the
    # same output port (CheckIPHeader, MarkIPHeader, SetIPChecksum, Paint): the compiler
    # removes a repeat whose inputs nothing has written since.
    idempotent: ClassVar[bool] = False
    # True when the element's header writes keep a valid IPv4 header valid: it rewrites
    # addresses, ports or TTL with incremental checksum updates and never touches the
    # version, header length or total length (NAT, load balancers, DecIPTTL).
    keeps_ip_valid: ClassVar[bool] = False
    # True when every output gets a copy of each packet (Tee): the runtime clones.
    fanout: ClassVar[bool] = False
    # True for elements that create packets (FromPcap): no kernel, but
    # ``fill(b, n) -> count`` that loads up to ``n`` packets into rows 0.. of batch ``b``.
    source: ClassVar[bool] = False
    # The numba kernel, set by subclasses as ``kernel = staticmethod(fn)``, compiled with
    # ``elements.jit.inlined`` so that LLVM inlines it into the walk.
    kernel: ClassVar[Any] = None
    # For the per-flow decision cache (msh/flowcache.py), mapping elements provide
    # ``slot_of(s) -> handle`` (an int64 >= 0 naming the flow state the last packet
    # used, -1 for none; it may carry what a refresh needs, such as table slots, so that
    # the refresh does no lookup) and ``touch(s, handle, b, i) -> expiry`` (refresh that
    # flow exactly as the kernel would for packet i; -1 when it is gone), both njit,
    # and optionally ``prefetch(s, handle)`` (start fetching what touch reads; see
    # elements.prefetch).
    slot_of: ClassVar[Any] = None
    touch: ClassVar[Any] = None
    prefetch: ClassVar[Any] = None
    # Optionally ``lookahead(b, i, s, inp)``, njit: start fetching what the kernel will
    # read first for row i arriving on input ``inp`` (its flow's table slot, from the
    # annotations; ``elements.flowtable.ft_lookahead``). The walk calls it
    # for the whole batch a pass before the kernel sees it (msh/runtime.py), so that
    # the misses of many packets overlap; and optionally ``lookahead_found(b, i, s, inp)``,
    # called for each such row just before that pass: look the flow up (its slot is
    # in the caches now) and start fetching what the kernel reads next. Both are hints
    # and change nothing.
    lookahead: ClassVar[Any] = None
    lookahead_found: ClassVar[Any] = None

    def __init_subclass__(cls, register: bool = True, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if not register:
            return
        kind = cls.__name__
        if kind in REGISTRY and REGISTRY[kind] is not cls:
            other = REGISTRY[kind]
            raise TypeError(f"element kind {kind!r} defined twice: {other.__module__} and {cls.__module__}")
        if cls.state_kind not in STATE_KINDS:
            raise TypeError(f"{kind}.state_kind must be one of {STATE_KINDS}")
        unknown = set(cls.reads) | set(cls.writes)
        unknown -= FIELDS
        if unknown:
            raise TypeError(f"{kind} declares unknown fields {sorted(unknown)}")
        parse_ports(cls.ports)
        REGISTRY[kind] = cls

    def __post_init__(self) -> None:
        # An element built without a config gets its Config's defaults (subclasses that
        # derive traits from the config extend this).
        if type(self.config) is NoConfig and self.Config is not NoConfig:
            self.config = self.Config()

    @classmethod
    def kind(cls) -> str:
        return cls.__name__

    @classmethod
    def port_spec(cls) -> PortSpec:
        return parse_ports(cls.ports)

    @property
    def pure(self) -> bool:
        """Stateless: the result depends only on the packet (compiler may dedupe it)."""
        return self.state_kind == "none"

    def head_shift(self) -> int | None:
        """How far the element moves every packet's head (Strip +n, Unstrip -n); None
        when that varies. The compiler follows header positions across such moves."""
        return 0 if "head" not in self.writes else None

    def same_work(self, earlier: Element, shift: int) -> bool:
        """Would this element redo ``earlier``'s work on the same packet? ``shift`` is
        how far the head has moved since ``earlier`` ran."""
        return type(self) is type(earlier) and self.config == earlier.config and shift == 0

    def unaffected_by(self, writer: Element) -> bool:
        """Is this element's result unchanged by ``writer``'s header writes even though
        they overlap what it reads? (CheckIPHeader: yes, for ``keeps_ip_valid``.)"""
        return False

    def looks_ahead(self) -> bool:
        """The walk should call this element's ``lookahead``: it has one, and (for a
        flow-table element, which overrides this) its table is too big to stay cached."""
        return self.lookahead is not None

    def cache_role(self) -> str | None:
        """How the decision cache may treat this element: ``"verdict"`` when its output
        port and writes depend only on the packet's 5-tuple (and config); ``"mapping"``
        when it is a per-flow element whose decision sticks once made (with
        ``slot_of``/``touch``); None when every packet must run it."""
        return None

    def check_connections(self, n_inputs: int, n_outputs: int) -> None:
        """Raise ``ValueError`` if the config does not fit this many connected ports
        (a rule naming an output that is not there). Graph validation calls it, so the
        error names the element's place; ``make_state`` may rely on it having passed."""

    def make_state(self, n_outputs: int) -> tuple:
        """Arrays built once from the config; passed to the kernel as ``s``."""
        return (np.zeros(1, np.int64),)

    def reference(self, pkt: Any, n_outputs: int) -> int:
        """Plain-Python oracle: same contract as the kernel, on a ``msh_ref.Packet``."""
        raise NotImplementedError

    def counters(self, state: tuple) -> dict[str, int]:
        """Element-specific counters (Click's read handlers) from the state arrays."""
        return {}

    def flush(self, state: tuple) -> None:
        """Called after every batch (sinks write their buffers here)."""

    def close(self, state: tuple) -> None:
        """Called once at the end of a run."""


def lookup(kind: str) -> type[Element]:
    """The class of ``kind``, importing only its own module when it follows the rule
    that ``Kind`` lives in ``elements/<category>/<kind lower>.py`` (importing every
    element costs ~0.3 s of start-up); other kinds (plugins) need ``load_all``."""
    if kind not in REGISTRY:
        import importlib

        for module in _modules().get(kind.lower(), ()):
            importlib.import_module(module)
    if kind not in REGISTRY:
        load_all()
    try:
        return REGISTRY[kind]
    except KeyError:
        raise UnknownKindError(kind, sorted(REGISTRY)) from None


@cache
def _modules() -> dict[str, list[str]]:
    """The element modules ``elements.<category>.<name>`` by ``name``."""
    import pkgutil

    import elements

    found: dict[str, list[str]] = {}
    for info in pkgutil.walk_packages(elements.__path__, "elements."):
        parts = info.name.split(".")
        if len(parts) == 3 and not info.ispkg:
            found.setdefault(parts[2], []).append(info.name)
    return found


_loaded = False


def load_all() -> None:
    """Import every element module in this package and any entry-point plugins."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib
    import pkgutil
    from importlib.metadata import entry_points

    import elements

    for info in pkgutil.walk_packages(elements.__path__, "elements."):
        importlib.import_module(info.name)
    for ep in entry_points(group="msh.elements"):
        ep.load()
