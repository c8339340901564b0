"""The console script's first step: Ctrl-C (or SIGTERM) while the command's modules load ends with one line and
exit 130 (143), not a traceback through the import machinery; :func:`ltr_hyperdpo.cli.main` then installs the
handlers of a running command. Importing this module changes the process's signal handlers: only the console
script and ``python -m ltr_hyperdpo`` import it."""
from __future__ import annotations

import os
import signal
import sys
from types import FrameType


def _stop_during_start_up(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write("ltr-hyperdpo: interrupted while starting; nothing was done\n")
    sys.stderr.flush()
    os._exit(128 + signum)  # nothing is written yet: no clean-up to unwind


signal.signal(signal.SIGINT, _stop_during_start_up)
signal.signal(signal.SIGTERM, _stop_during_start_up)

from .cli import main as _cli_main  # noqa: E402 - the handlers above must be in place while this loads


def main() -> int:
    """Entry point of the ``ltr-hyperdpo`` console script."""
    return _cli_main()
