"""`ltr-hyperdpo tune`: Optuna studies over a run config (:mod:`.study`: workers, storages, budget; :mod:`.space`:
the search space and the study's objectives)."""
from .space import DEFAULT_SPACE_KEYS, SearchSpace, TargetSpec, parse_targets, suggest
from .study import open_storage, run_study, storage_file

__all__ = ["DEFAULT_SPACE_KEYS", "SearchSpace", "TargetSpec", "open_storage", "parse_targets", "run_study",
           "storage_file", "suggest"]
