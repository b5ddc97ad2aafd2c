"""The process's open-file limit: raised to its hard limit at start, as Go programs do.

Every client connection holds descriptors; the kernel's default soft limit (1024) is a
number a busy host meets. The hard limit is what the administrator allows; the
connection limits (`sockspy.core.serving.limits.default_connection_limits`) are then
derived from it, so that sockspy refuses a connection with 503 or 429 before any accept
fails with EMFILE.
"""

from __future__ import annotations

import resource


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one (where allowed); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # e.g. a hard limit above the kernel's nr_open: keep the soft one
    return soft
