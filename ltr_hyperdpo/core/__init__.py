"""The PL-DPO math, domain-agnostic: the LTR and LLM modules both import it."""
from .dpo import dpo_sigmoid_loss, implicit_rewards, pl_dpo_loss, pl_dpo_objective_losses
from .grids import describe_grid, member_grid, validation_grid, weight_grid
from .plackett_luce import plackett_luce_nll, ranking_from_labels
from .sampling import sample_beta, sample_weights
from .temperature import rescale_temperature

__all__ = ["plackett_luce_nll", "ranking_from_labels", "pl_dpo_loss", "pl_dpo_objective_losses", "implicit_rewards",
           "dpo_sigmoid_loss", "sample_weights", "sample_beta", "weight_grid", "member_grid", "validation_grid",
           "describe_grid", "rescale_temperature"]
