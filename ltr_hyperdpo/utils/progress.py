"""Progress bars on a terminal only, and one-line summaries on stderr."""
from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm


def interactive() -> bool:
    """Whether stderr is a terminal (bars are drawn only then; logs and CI get one-line summaries)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress_bar(enabled: bool, total: int | None, desc: str, **kw: Any) -> Any:
    """A tqdm bar when ``enabled`` and stderr is a terminal, else ``None``."""
    if not enabled or not interactive():
        return None
    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, **kw)


def say(enabled: bool, text: str) -> None:
    """Print a one-line status message on stderr when ``enabled``."""
    if enabled:
        print(text, file=sys.stderr, flush=True)
