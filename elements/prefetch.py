"""Software prefetch for the walk: ask the CPU for a table row it will soon read.

A decision-cache hit reads a few rows of tables far bigger than the core's caches
(the cache entry, then each mapping's flow record); one after another they stall the
core ~50 ns each. The walk asks for them a batch ahead (msh/runtime.py), as VPP's
nodes do, so the misses overlap. ``prefetch`` is a hint: it never faults, changes no
state, and in plain Python (``NUMBA_DISABLE_JIT=1``) does nothing.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload


def prefetch(rows, k):
    """Start fetching row ``k`` of the 1- or 2-D array ``rows`` into the caches."""


@intrinsic
def _prefetch_row(typingctx, rows, k):
    def codegen(context, builder, sig, args):
        aryty, kty = sig.args
        ary = context.make_array(aryty)(context, builder, args[0])
        index = [context.cast(builder, args[1], kty, types.intp)]
        index += [context.get_constant(types.intp, 0)] * (aryty.ndim - 1)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, index, wraparound=False)
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])  # read, keep in all levels, data
        return context.get_dummy_value()

    return types.void(rows, k), codegen


@overload(prefetch, jit_options={"forceinline": True})
def _prefetch(rows, k):
    return lambda rows, k: _prefetch_row(rows, k)
