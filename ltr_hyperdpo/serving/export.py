"""ONNX export of a trained run (extra ``ltr_hyperdpo[export]``: onnx, onnxscript, onnxruntime).

The graph takes raw features, so a serving stack needs nothing else from this package:

* inputs ``features [batch, list, raw_features]`` float32 (the training files' feature order: the column selection
  and the normaliser are inside the graph), ``mask [batch, list]`` bool (True = real document), ``w [batch,
  objectives]`` float32 (rows on the simplex), and ``beta [batch]`` float32 for a temperature-conditioned model;
* output ``scores [batch, list]`` (padding scores 0). Batch and list axes are dynamic.

One conditioned model (HyperDPO, COSMOS), the reference, and multi-run methods (the member nearest to each list's
weight) export; a DPO soup mixes parameters per weight, which a graph with a dynamic batch cannot express.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..models.ranker import HyperDPORanker, MemberRanker, ReferenceRanker, SoupRanker
from .run import Run


class _Normalise(nn.Module):
    """Raw features -> model inputs, as :class:`~ltr_hyperdpo.data.features.FeatureTransform` computes them."""

    cols: torch.Tensor
    logc: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, run: Run):
        super().__init__()
        t = run.state.transform()
        self.register_buffer("cols", torch.as_tensor(t.columns, dtype=torch.long))
        n = t.normalizer
        self.normalise = n is not None
        k = len(t.columns)
        self.register_buffer("logc", torch.as_tensor(n.log1p if n else [False] * k, dtype=torch.bool))
        self.register_buffer("mean", torch.as_tensor(n.mean if n else [0.0] * k, dtype=torch.float64))
        self.register_buffer("std", torch.as_tensor(n.std if n else [1.0] * k, dtype=torch.float64))

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        v = raw.index_select(-1, self.cols)
        if not self.normalise:
            return v
        v = v.double()
        v = torch.where(self.logc, torch.log1p(torch.clamp(v, min=0.0)), v)
        return ((v - self.mean) / self.std).float()


class ExportedRanker(nn.Module):
    """The run's ranker behind its input transform, as one module ``(features, mask, w[, beta]) -> scores``."""

    member_w: torch.Tensor

    def __init__(self, run: Run):
        super().__init__()
        self.inp = _Normalise(run)
        r = run.ranker
        self.kind = type(r).__name__
        self.temperature = False
        if isinstance(r, HyperDPORanker):
            self.policy = r.policy
            self.temperature = bool(r.policy.config.temperature_conditioned)
            self.beta_train = r.beta_train
        elif isinstance(r, ReferenceRanker):
            self.policy = r.reference
        elif isinstance(r, MemberRanker):
            self.members = nn.ModuleList(r.models)
            self.register_buffer("member_w", torch.as_tensor(r.weights, dtype=torch.float32))
        else:
            raise ConfigError(f"cannot export a {type(r).__name__}")

    def forward(self, features: torch.Tensor, mask: torch.Tensor, w: torch.Tensor,
                beta: torch.Tensor | None = None) -> torch.Tensor:
        x = self.inp(features)
        w = w / w.sum(-1, keepdim=True)  # one rule everywhere: a preference is scaled to the simplex
        if self.kind == "HyperDPORanker":
            return self.policy(x, mask, w, beta) if self.temperature else self.policy(x, mask, w)
        if self.kind == "ReferenceRanker":
            # the reference ignores w; using it (times 0) keeps the promised input in the graph
            return self.policy(x, mask) + 0.0 * w[:, :1]
        # a multi-run method: each list takes the member nearest (L1) to its weight
        scores = torch.stack([m(x, mask) for m in self.members])  # [members, batch, list]
        nearest = (w[None, :, :] - self.member_w[:, None, :]).abs().sum(-1).argmin(0)  # [batch]
        return scores.gather(0, nearest[None, :, None].expand(1, -1, scores.shape[-1])).squeeze(0)


def export_onnx(run: Run, path: str | os.PathLike, opset: int = 18, check: bool = False) -> tuple[Path, float | None]:
    """Write the run as an ONNX graph with dynamic batch and list axes; returns (path, the largest difference from
    :meth:`Run.score` when ``check``). With ``check`` the graph is compared (onnxruntime) before it is moved into
    place: a graph that does not run, or scores differently (> 1e-4), leaves no file."""
    if isinstance(run.ranker, SoupRanker):
        raise ConfigError("a DPO soup mixes parameters per weight, which ONNX cannot express with a dynamic batch; "
                          "export a one-model method (hyperdpo, cosmos) or score it with Run.score")
    model = ExportedRanker(run).eval()
    b, n = 2, 5
    example = [torch.zeros(b, n, run.n_raw_features), torch.ones(b, n, dtype=torch.bool),
               torch.full((b, run.n_objectives), 1.0 / run.n_objectives)]
    names = ["features", "mask", "w"]
    if model.temperature:
        example.append(torch.ones(b))
        names.append("beta")
    dyn = {"features": {0: "batch", 1: "list"}, "mask": {0: "batch", 1: "list"}, "w": {0: "batch"}}
    if model.temperature:
        dyn["beta"] = {0: "batch"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks become constants: intended
            torch.onnx.export(model, tuple(example), str(tmp), input_names=names, output_names=["scores"],
                              dynamic_axes={**dyn, "scores": {0: "batch", 1: "list"}}, opset_version=opset,
                              dynamo=False)
        diff = None
        if check:
            try:
                diff = check_export(run, tmp)
            except Exception as e:  # noqa: BLE001 - onnxruntime's errors are reported with the output named
                raise ConfigError(f"{path}: the exported graph does not run in onnxruntime "
                                  f"({' '.join(str(e).split())[:300]}); nothing was written") from None
            if not diff <= 1e-4:
                raise ConfigError(f"{path}: the exported graph scores differently from Run.score (largest "
                                  f"difference {diff:.3g}); nothing was written")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path, diff


def onnx_scores(path: str | os.PathLike, features: np.ndarray, mask: np.ndarray, w: np.ndarray,
                beta: np.ndarray | None = None) -> np.ndarray:
    """Run an exported graph with onnxruntime (one CPU thread pool) and return its scores."""
    import onnxruntime as ort  # the optional export extra

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"features": features.astype(np.float32), "mask": mask.astype(bool), "w": w.astype(np.float32)}
    if beta is not None:
        feeds["beta"] = beta.astype(np.float32)
    return sess.run(["scores"], feeds)[0]


def check_export(run: Run, path: str | os.PathLike, batch: int = 3, length: int = 11, seed: int = 0) -> float:
    """Largest absolute difference between the graph (onnxruntime) and :meth:`Run.score` on random raw features of a
    shape not used at export, with a padded list and a different weight per list."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch, length, run.n_raw_features)).astype(np.float32)
    mask = np.ones((batch, length), dtype=bool)
    mask[-1, length // 2:] = False
    # rows not on the simplex (scaled by 0.5 to 3): the graph must scale them as Run.score does
    w = (rng.dirichlet(np.ones(run.n_objectives), size=batch) * rng.uniform(0.5, 3.0, (batch, 1))).astype(np.float32)
    beta = np.full(batch, run.config.hyperdpo.beta, np.float32) if run.config.model.temperature_conditioned else None
    got = onnx_scores(path, x, mask, w, beta)
    expect = np.zeros((batch, length))
    for b in range(batch):
        n = int(mask[b].sum())
        expect[b, :n] = run.score(x[b, :n], w[b], qid=np.zeros(n, dtype=np.int64))
    return float(np.abs(got - expect).max())
