"""HyperDPO over lists of LLM responses, with Hyper Prompt Tuning for causal LMs (reuses ``core``, ``models``,
``eval`` and the run infrastructure).

Entry points: :func:`llm_train`, :func:`load_llm_run`, :func:`evaluate_llm_front`, :func:`load_preferences`,
:class:`LLMConfig`, :class:`PreferenceLists`.
"""
from .config import LLMConfig
from .convert import CONVERTERS, load_preferences
from .data import PreferenceFormatError, PreferenceLists, read_lists
from .evaluate import evaluate_llm_front
from .train import LLMRunResult, llm_train, load_llm_run

__all__ = ["LLMConfig", "PreferenceLists", "PreferenceFormatError", "CONVERTERS", "load_preferences", "read_lists",
           "llm_train", "load_llm_run",
           "LLMRunResult", "evaluate_llm_front"]
