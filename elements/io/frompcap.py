"""FromPcap: the source that plays a libpcap file into the graph."""

from __future__ import annotations

from pydantic import Field

from elements.element import Element, ElementConfig
from elements.io.pcapfile import PcapFeed


class FromPcapConfig(ElementConfig):
    file: str = Field(description="the libpcap file to read (Click's FILENAME)")
    repeat: int = Field(default=1, ge=1, description="play the file this many times")
    limit: int | None = Field(default=None, ge=0,
                              description="stop after this many packets in all (None: no limit)")


class FromPcap(Element):
    """Play the packets of a libpcap file, in order, as Click's FromDump does.

    The file is read and checked when the run starts: a corrupt or truncated file
    is a ``PcapError`` naming the byte offset. Each packet gets the file's timestamp
    (ns); with ``repeat`` the trace is played again with its timestamps shifted by
    its duration plus one mean inter-packet gap, so time keeps increasing. Ethernet
    frames (link type 1) start at ``head``; raw IPv4 files (link types 101, 228)
    put the IP header at ``head`` (parse them at offset 0). Frames longer than a
    slot are cut to ``elements.batch.MAX_FRAME`` bytes and counted in ``truncated``.

    Ports: ``0/1``.

    Example::

        elements:
          src: {kind: FromPcap, config: {file: trace.pcap, repeat: 10}}
          sink: {kind: Discard}
        connections:
          - src -> sink

    Counters: ``count`` (packets played), ``truncated`` (frames cut), ``linktype``.
    See also: ToPcap, TrafficGen.
    """

    ports = "0/1"
    Config = FromPcapConfig
    writes = ("head", "length", "timestamp")
    source = True

    _feed = None  # the PcapFeed, opened on first use

    @property
    def feed(self) -> PcapFeed:
        """The open file (opened, read and checked on first use)."""
        if self._feed is None:
            c = self.config
            self._feed = PcapFeed(c.file, repeat=c.repeat, limit=c.limit)
        return self._feed

    @property
    def total(self) -> int:
        return self.feed.total

    def fill(self, b, n: int) -> int:
        return self.feed.fill(b, n)

    def counters(self, state=None) -> dict[str, int]:
        f = self._feed
        if f is None:
            return {"count": 0, "truncated": 0}
        return {"count": f.delivered, "truncated": f.truncated, "linktype": f.linktype}

    def close(self, state=None) -> None:
        if self._feed is not None:
            self._feed.close()
