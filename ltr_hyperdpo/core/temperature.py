"""The linear-transformation property of the PL-DPO loss in 1/β.

The loss depends on the scores only through ``β (s − s_ref)``. Hence a policy ``s`` at temperature β and the policy
``s' = s_ref + (β/β')(s − s_ref)`` at β' have identical losses, and the optimum at β' is the optimum at β rescaled:
``s*_β' − s_ref = (β/β')(s*_β − s_ref)``. A model trained at one β therefore serves any β' after training.
"""
from __future__ import annotations

import torch


def rescale_temperature(policy: torch.Tensor, reference: torch.Tensor, beta_trained, beta_new) -> torch.Tensor:
    """Scores at temperature ``beta_new`` of a policy trained at ``beta_trained``: ``s_ref + (β/β')(s − s_ref)``."""
    bt = torch.as_tensor(beta_trained, dtype=policy.dtype, device=policy.device)
    bn = torch.as_tensor(beta_new, dtype=policy.dtype, device=policy.device)
    if bt.ndim == 1:
        bt = bt[:, None]
    if bn.ndim == 1:
        bn = bn[:, None]
    if bool((bn <= 0).any()) or bool((bt <= 0).any()):
        raise ValueError("temperatures must be positive")
    return reference + (bt / bn) * (policy - reference)
