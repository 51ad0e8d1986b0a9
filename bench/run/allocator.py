"""Keep freed memory in the process instead of handing it back to the kernel per tensor.

glibc serves allocations above its mmap threshold (32 MB at most when it adapts it) with a
fresh ``mmap`` and unmaps them on ``free``: every large tensor of a training step (a batch
of 512 feature maps is hundreds of MB) is then faulted in and zero-filled page by page by
the kernel, again at every step: a large share of a DFAD MNIST iteration is spent in page
faults. Raising the mmap and trim thresholds keeps those pages in the heap for reuse, a
third off that iteration, numbers bit-identical (where memory comes from changes no
arithmetic; docs/speed.md). The price: the process keeps its peak memory until it exits. glibc reads the
setting at start-up only, so the command line re-executes itself once with it;
``BENCH_MALLOC=default`` opts out.
"""
from __future__ import annotations

import os
import platform
import sys

TUNABLES = ("glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184:"
            "glibc.malloc.top_pad=268435456")
"""mmap only above 4 GB, trim only above 16 GB of free heap, grow the heap 256 MB at a time."""


def reexec_with_tunables() -> None:
    """Re-execute this Python command once with ``TUNABLES`` in ``GLIBC_TUNABLES`` (Linux
    with glibc; a no-op elsewhere, when already set, or with ``BENCH_MALLOC=default``).
    Child processes (local workers, SLURM jobs submitted from here) inherit it."""
    if os.environ.get("BENCH_MALLOC") == "default" or platform.libc_ver()[0] != "glibc":
        return
    current = os.environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.mmap_threshold" in current:
        return
    os.environ["GLIBC_TUNABLES"] = ":".join(filter(None, [current, TUNABLES]))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
