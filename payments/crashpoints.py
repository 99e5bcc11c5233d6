"""Named crash points for the crash-recovery tests.

``reach("card.after_create")`` kills the current process with SIGKILL when the environment
variable ``PAYOFFICE_CRASH_AT`` names that point, simulating a power cut at exactly that step.
It is a no-op in production (the variable is never set there).
"""

from __future__ import annotations

import os
import signal

ENV = "PAYOFFICE_CRASH_AT"


def reach(name: str) -> None:
    """Die here, now, without cleanup, if the test asked for a crash at ``name``."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
