"""Run by ``tests/test_distributed.py`` (directly, or under torchrun): stage-2 HyperDPO steps in float64.

``python ddp_step_worker.py TRAIN_PARQUET OUT.pt`` trains a weight-conditioned copy of a fixed reference for one
epoch of two global batches with the method's own batch loss (weights, β and tie-breaks drawn for the global batch)
through the shared loop, and rank 0 saves the resulting parameters and Adam's first moments.
"""
import sys
from pathlib import Path

import numpy as np
import torch

from ltr_hyperdpo.data.batching import SlateLoader, Slates
from ltr_hyperdpo.data.dataset import RankingDataset
from ltr_hyperdpo.methods.base import FitContext
from ltr_hyperdpo.methods.hyperdpo import HyperDPO
from ltr_hyperdpo.models.scorers import build_scorer, conditioned_copy
from ltr_hyperdpo.runs.distributed import init_from_env, shutdown
from ltr_hyperdpo.runs.loop import Stage, run_stage
from ltr_hyperdpo.training import DataSummary, RunConfig, resolve


def main(train_path: str, out: str) -> None:
    d = init_from_env("cpu")
    torch.set_num_threads(1)
    ds = RankingDataset.load(train_path, fit=True)
    cfg = RunConfig.from_dict({"model": {"hidden": [16], "dropout": 0.0, "temperature_conditioned": True},
                               "method": {"name": "hyperdpo", "params": {"weights_per_list": 2}}})
    plan = resolve(cfg, DataSummary(train=train_path, vali=None, test=None, n_features=ds.n_features,
                                    n_objectives=ds.n_objectives))
    torch.manual_seed(0)
    reference = build_scorer(plan.scorer, conditioned=False)
    reference.double().eval()
    torch.manual_seed(1)
    policy = conditioned_copy(reference, plan.scorer).double()
    for p in policy.parameters():  # moved off the no-op start, so the conditioning's gradients are not all zero
        p.data.add_(0.05 * torch.randn_like(p))
    grid = np.eye(ds.n_objectives)
    ctx = FitContext(method="hyperdpo", train=ds, vali=ds, reference=reference, run_dir=Path(out).parent,
                     stage2=plan.stage2, params=plan.method_params(), scorer=plan.scorer,
                     learning_rates=plan.method.learning_rates, seed=0, batch_size=12, slate_length=20, front_k=10,
                     val_weights=grid, member_weights=grid, progress=False)
    loader = SlateLoader(ds, 11, slate_length=20, shuffle=True, seed=3)  # shares of 6 and 5 lists

    def batches(epoch: int):
        for b in loader.epoch_batches(epoch):
            yield Slates(b.features.double(), b.labels.double(), b.mask, b.queries, b.rows)

    def loss(net, b, gen):
        return HyperDPO().batch_loss(ctx, net, b, gen)

    n = 2
    stage = Stage(name="step", stage_id=2, model=policy, loss_fn=loss,
                  batches=lambda e: (x for _, x in zip(range(n), batches(e), strict=False)), epochs=1, lr=1e-2,
                  shard=Slates.shard)
    ck = Path(out).parent / f"ck{d.world}.pt"
    run_stage(stage, ck, 0, progress=False)
    if d.main:  # the parameters, and Adam's first moments (linear in the gradients, unlike Adam's first steps)
        moments = torch.load(ck, weights_only=True)["optimizer"]["state"]
        torch.save({"params": {k: v.detach().clone() for k, v in policy.state_dict().items()},
                    "exp_avg": [moments[i]["exp_avg"] for i in sorted(moments)]}, out)
    shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
