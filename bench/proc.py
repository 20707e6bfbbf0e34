"""What the benchmark's child processes share: dying with the driver. No heavy imports, so
the echo bot's memory stays a fair baseline."""

from __future__ import annotations

import ctypes
import os
import signal

PARENT_ENV = "BENCH_PARENT_PID"
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel SIGTERM this process if the benchmark driver ($BENCH_PARENT_PID) dies."""
    parent = os.environ.get(PARENT_ENV, "")
    if not parent.isdigit():
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the driver's own cleanup has to do
        return
    if os.getppid() != int(parent):  # the driver died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
