"""HyperDPO over lists of LLM responses, with Hyper Prompt Tuning for causal LMs (imports ``core`` unchanged)."""
