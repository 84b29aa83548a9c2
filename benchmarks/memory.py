"""What every benchmark reports about memory."""

from __future__ import annotations

import resource
import sys


def peak_mb() -> float:
    """The process's peak resident set size (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
