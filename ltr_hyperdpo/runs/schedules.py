"""Learning-rate schedules, stepped once per epoch (as allRank does), configured as a name or ``{name, args}``.

* ``"constant"`` (or ``None``): no schedule.
* ``"cosine"``: cosine decay to ``min_ratio`` x the initial rate over the stage's epochs.
* any ``torch.optim.lr_scheduler`` class by name with its arguments, e.g. ``{"name": "StepLR", "args":
  {"step_size": 10, "gamma": 0.1}}``; ``ReduceLROnPlateau`` steps on the validation metric (``mode`` max).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


#: schedulers that need no argument besides the optimiser and the number of epochs
SIMPLE = ("constant", "cosine")
#: ``torch.optim.lr_scheduler`` classes accepted by name
TORCH_SCHEDULERS = ("StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "ReduceLROnPlateau", "LinearLR",
                    "ConstantLR", "PolynomialLR", "CosineAnnealingWarmRestarts", "OneCycleLR", "CyclicLR")

SchedulerFactory = Callable[[torch.optim.Optimizer], Any]


def parse_schedule(spec: str | dict | None) -> tuple[str, dict]:
    """(name, args) of a schedule spec; an unknown name or argument raises ValueError."""
    if spec is None:
        return "constant", {}
    if isinstance(spec, str):
        name, args = spec, {}
    elif isinstance(spec, dict) and set(spec) <= {"name", "args"} and isinstance(spec.get("name"), str):
        name, args = spec["name"], dict(spec.get("args") or {})
    else:
        raise ValueError(f"expected a name or {{name, args}}, got {spec!r}")
    if name not in SIMPLE and name not in TORCH_SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; one of {', '.join(SIMPLE + TORCH_SCHEDULERS)}")
    if name == "cosine" and set(args) - {"min_ratio"}:
        raise ValueError(f"'cosine' takes only min_ratio, got {sorted(args)}")
    if name in TORCH_SCHEDULERS:
        try:  # bind the arguments on a throwaway optimiser: a wrong name or value fails at config time
            make_scheduler(name, args, 10)(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name}({args}): {e}") from None
    return name, args


def make_scheduler(name: str, args: dict, epochs: int) -> SchedulerFactory:
    """A factory ``optimizer -> scheduler`` for a parsed spec (``constant`` gives a no-op factory's ``None``)."""
    if name == "constant":
        return lambda opt: None
    if name == "cosine":
        min_ratio = float(args.get("min_ratio", 0.05))
        return lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=max(epochs, 1), eta_min=min(g["lr"] for g in opt.param_groups) * min_ratio)
    cls = getattr(torch.optim.lr_scheduler, name)
    if name == "ReduceLROnPlateau":
        return lambda opt: cls(opt, **{"mode": "max", **args})
    return lambda opt: cls(opt, **args)


def needs_metric(name: str) -> bool:
    """Whether the scheduler steps on the validation metric."""
    return name == "ReduceLROnPlateau"
