"""DPO-LS: linear scalarisation, one fixed-w PL-DPO model per training weight (multi-run)."""
from __future__ import annotations

from .members import MultiRun


class DpoLS(MultiRun):
    """One model per grid weight; a query weight uses the nearest member."""

    name = "dpo_ls"
    label = "DPO-LS (multi-run)"
