"""How per-packet code is compiled: one decorator for every kernel and the helpers it calls.

``forceinline`` marks the function ``alwaysinline`` for LLVM, so a kernel and its
helpers are inlined into the generated walk when LLVM links it, from their cached
machine-independent IR: no call that passes the Batch's 17 arrays (and a state tuple)
field by field by value, and none of numba's IR-level inlining, which re-types the
callee inside every caller. Measured on the NAT graph: a call cost ~160 ns a packet,
IR inlining ~30 s of compile for every graph; LLVM inlining costs neither.
``_nrt=False``: no reference counting; kernels and their helpers never allocate (numba
refuses to compile an allocation without the NRT, so a violation cannot go unseen).
"""

from numba import njit

inlined = njit(cache=True, forceinline=True, _nrt=False)
