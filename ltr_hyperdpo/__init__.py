"""ltr_hyperdpo: multi-objective listwise learning-to-rank with HyperDPO (COS-DPO)."""
__version__ = "0.1.0"
