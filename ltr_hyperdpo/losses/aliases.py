"""allRank's loss names and arguments as aliases of this project's losses.

``resolve_loss("lambdaLoss", {"weighing_scheme": "ndcgLoss2PP_scheme", "k": None, "mu": 10, "sigma": 1})`` gives
``("lambdaloss_ndcg2pp", {"k": None, "mu": 10, "sigma": 1}, notes)``. The losses agree per list with allRank's
within 1e-6 (``tests/test_allrank_oracle.py``); ``notes`` say where the batch reduction differs. An argument with no
counterpart raises ValueError naming it.
"""
from __future__ import annotations

from typing import Any

#: allRank's lambdaLoss weighing schemes and ours
LAMBDA_SCHEMES = {None: "none", "rankNet_scheme": "none", "ndcgLoss2PP_scheme": "ndcg2pp",
                  "lambdaRank_scheme": "lambdarank", "ndcgLoss2_scheme": "ndcg2"}
#: arguments that only describe allRank's padding or numerical guards, with the values that match ours
NEUTRAL = {"eps": 1e-10, "padded_value_indicator": -1}

ALLRANK_NAMES = ("listNet", "listMLE", "rankNet", "rankNet_weightByGTDiff", "lambdaLoss", "approxNDCGLoss",
                 "neuralNDCG")


def _take(args: dict, allowed: dict[str, Any], name: str) -> dict:
    """``args`` restricted to ``allowed`` (name -> our name), the neutral ones checked; ValueError for the rest."""
    out = {}
    for k, v in args.items():
        if k in NEUTRAL:
            if v != NEUTRAL[k]:
                raise ValueError(f"allRank loss {name!r}: argument {k}={v!r} has no counterpart here (only "
                                 f"{NEUTRAL[k]!r})")
        elif k in allowed:
            out[allowed[k]] = v
        else:
            raise ValueError(f"allRank loss {name!r}: argument {k!r} has no counterpart here (mapped: "
                             f"{sorted(allowed) + sorted(NEUTRAL)})")
    return out


def resolve_loss(name: str, args: dict | None = None) -> tuple[str, dict, list[str]]:
    """(our loss name, its arguments, notes on convention differences) for a loss name of ours or of allRank."""
    args = dict(args or {})
    if name not in ALLRANK_NAMES:
        return name, args, []
    notes: list[str] = []
    if name == "listNet":
        return "listnet", _take(args, {}, name), notes
    if name == "listMLE":
        return "listmle", _take(args, {}, name), notes
    if name in ("rankNet", "rankNet_weightByGTDiff"):
        out = _take(args, {"weight_by_diff": "weight_by_diff", "weight_by_diff_powed": "weight_by_diff_powed"}, name)
        if out.pop("weight_by_diff_powed", False):
            raise ValueError("allRank loss 'rankNet': weight_by_diff_powed has no counterpart here")
        if name == "rankNet_weightByGTDiff":
            out["weight_by_diff"] = True
        notes.append("rankNet: allRank averages over the pairs of the whole batch, here over each list's pairs and "
                     "then over the lists" + ("; weighted pairs are divided by their total weight here, by their "
                                             "number in allRank" if out.get("weight_by_diff") else ""))
        return "ranknet", out, notes
    if name == "lambdaLoss":
        scheme = args.pop("weighing_scheme", None)
        if scheme not in LAMBDA_SCHEMES:
            raise ValueError(f"allRank loss 'lambdaLoss': weighing_scheme {scheme!r} has no counterpart here (one of "
                             f"{sorted(str(s) for s in LAMBDA_SCHEMES)})")
        reduction = args.pop("reduction", "sum")
        if reduction != "sum":
            raise ValueError(f"allRank loss 'lambdaLoss': reduction {reduction!r} has no counterpart here (sum)")
        log = args.pop("reduction_log", "binary")
        if log != "binary":
            raise ValueError(f"allRank loss 'lambdaLoss': reduction_log {log!r} has no counterpart here (binary)")
        out = _take(args, {"k": "k", "sigma": "sigma", "mu": "mu"}, name)
        notes.append("lambdaLoss: allRank sums over the lists of a batch, here the mean over lists is taken (a "
                     "constant factor, the batch size: the same steps under Adam)")
        return "lambdaloss", {"scheme": LAMBDA_SCHEMES[scheme], **out}, notes
    if name == "approxNDCGLoss":
        out = _take(args, {"alpha": "alpha"}, name)
        alpha = float(out.pop("alpha", 1.0))
        if alpha <= 0:
            raise ValueError(f"allRank loss 'approxNDCGLoss': alpha must be > 0, got {alpha}")
        return "approxndcg", {"temperature": 1.0 / alpha}, notes
    # neuralNDCG
    if args.pop("powered_relevancies", True) is not True:
        raise ValueError("allRank loss 'neuralNDCG': powered_relevancies false has no counterpart here (gain 2^y-1)")
    if args.pop("stochastic", False):
        raise ValueError("allRank loss 'neuralNDCG': stochastic true has no counterpart here")
    for unused in ("n_samples", "beta", "log_scores"):  # arguments of the stochastic variant only
        args.pop(unused, None)
    out = _take(args, {"temperature": "temperature", "k": "k"}, name)
    notes.append("neuralNDCG: allRank averages over the lists that have a relevant document, here a list without "
                 "one gives 0 and counts in the mean")
    return "neuralndcg", out, notes
