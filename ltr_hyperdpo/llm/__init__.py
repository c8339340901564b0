"""HyperDPO over lists of LLM responses, with Hyper Prompt Tuning for causal LMs (reuses ``core``, ``models``,
``eval`` and the run infrastructure).

Entry points: :func:`llm_train`, :func:`load_llm_run`, :func:`evaluate_llm_front`, :func:`load_preferences`,
:class:`LLMConfig`, :class:`PreferenceLists`.
"""
from .config import LLMConfig
from .data import PreferenceLists, load_preferences, read_lists
from .evaluate import evaluate_llm_front
from .train import LLMRunResult, llm_train, load_llm_run

__all__ = ["LLMConfig", "PreferenceLists", "load_preferences", "read_lists", "llm_train", "load_llm_run",
           "LLMRunResult", "evaluate_llm_front"]
