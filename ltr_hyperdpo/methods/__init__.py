"""Stage-2 methods: one-shot HyperDPO and the multi-objective baselines, on the same backbone and data.

| method | models | loss | front |
|---|---|---|---|
| ``hyperdpo`` | 1 conditioned | PL-DPO, w ~ Dirichlet(α) per list | any w |
| ``cosmos`` | 1 conditioned | Σ w_k L_k − λ cos(w, L) (COSMOS-style), w ~ Dirichlet | any w |
| ``dpo_ls`` | one per training w | fixed-w PL-DPO (linear scalarisation, multi-run) | nearest member |
| ``dpo_soup`` | one per objective | PL-DPO on e_k; parameters mixed by w at evaluation | any w |
| ``modpo`` | one per training w | PL-DPO on the main objective with the others as a margin | nearest member |
| ``reference`` | the reference | — | one point |

A new method is one file (a :class:`Method` subclass, with its own ``Params`` when it has parameters) plus one
``register(...)`` line below. A run names it as ``method: NAME`` or ``method: {name: NAME, params: {...}}``.
"""
from .base import FitContext, FitOutcome, Method, NoParams, Stage2Settings
from .cosmos import Cosmos
from .dpo_ls import DpoLS
from .dpo_soup import DpoSoup
from .hyperdpo import HyperDPO
from .modpo import Modpo
from .reference import Reference
from .registry import get_method, labels, method_names, register, unregister

register(Reference())
register(HyperDPO())
register(DpoLS())
register(DpoSoup())
register(Modpo())
register(Cosmos())

__all__ = ["Method", "FitContext", "FitOutcome", "Stage2Settings", "NoParams", "register", "unregister", "get_method",
           "method_names", "labels"]
