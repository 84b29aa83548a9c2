"""What every benchmark reports about memory."""

from __future__ import annotations

import resource
import sys


def peak_mb() -> float:
    """The process's peak resident set size, plus the largest of its finished worker
    processes' (ru_maxrss is KiB on Linux, bytes on macOS): at most what they held together."""
    peak = sum(
        resource.getrusage(who).ru_maxrss
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
