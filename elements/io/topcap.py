"""ToPcap: writes every packet that reaches it to a libpcap file."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from elements.batch import SLOT_SIZE
from elements.element import Element, ElementConfig, drop
from elements.io.pcapfile import LINKTYPES, RECORD_HEADER, W_RECORDS, PcapWriter, put_record
from elements.jit import inlined

# Rows one walk can bring to a ToPcap: the largest batch the bench sweeps (2048)
# times the runtime's room for Tee clones (4). The buffer is mapped lazily, so only
# the pages a batch fills cost memory.
BUFFER_ROWS = 8192


@inlined
def topcap_kernel(b, i, s, inp):
    buf, meta, outputs = s
    if not put_record(buf, meta, b.data[i], b.head[i], b.length[i], b.timestamp[i]):
        return drop(1)
    if outputs[0] > 0:
        return 0
    return drop(0)


class ToPcapConfig(ElementConfig):
    file: str = Field(description="the libpcap file to write (Click's FILENAME)")
    nanosecond: bool = Field(default=False, description="nanosecond timestamps (Click's NANO)")
    linktype: int = Field(default=1, description="link type in the file header: 1 Ethernet,"
                          " 101/228 raw IPv4 (what the packets start with at head)")


class ToPcap(Element):
    """Write each packet, as it is at this point of the graph, to a libpcap file
    (Click's ToDump).

    The kernel appends the record to a buffer; the buffer goes to the file after
    every batch, so the file is complete when the run ends. With output 0 connected
    the packet then goes on unchanged; without it the packet's journey ends here and
    it is counted under ``written`` (a sink must account for what it keeps).

    Ports: ``1/0-1``.

    Example::

        elements:
          dump: {kind: ToPcap, config: {file: out.pcap}}

    Counters: ``count`` (records written); drop reasons ``written`` (no output
    connected) and ``no_room`` (a walk brought more than the buffer holds; not
    written). See also: FromPcap, Print.
    """

    ports = "1/0-1"
    Config = ToPcapConfig
    reads = ("head", "length", "timestamp")
    state_kind = "global"
    drops = ("written", "no_room")
    kernel = staticmethod(topcap_kernel)

    def make_state(self, n_outputs: int) -> tuple:
        c = self.config
        if c.linktype not in LINKTYPES:
            raise ValueError(f"{self.name}: linktype {c.linktype} is not one of {sorted(LINKTYPES)}")
        if getattr(self, "_writer", None) is not None:
            self._writer.close()
        self._writer = PcapWriter(c.file, nanosecond=c.nanosecond, linktype=c.linktype,
                                  buffer_size=BUFFER_ROWS * (RECORD_HEADER + SLOT_SIZE))
        return (self._writer.buf, self._writer.meta, np.array([n_outputs], np.int64))

    def flush(self, state: tuple) -> None:
        self._writer.flush()

    def close(self, state: tuple) -> None:
        self._writer.close()

    def counters(self, state: tuple) -> dict[str, int]:
        return {"count": int(state[1][W_RECORDS])}
