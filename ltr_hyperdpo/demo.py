"""`ltr-hyperdpo demo`: the main job on the embedded synthetic dataset (two conflicting objectives)."""
from __future__ import annotations

import json
import time
from pathlib import Path

N_FEATURES = 136


def run_demo(out: str, quick: bool = False) -> int:
    """Synthesise, convert, train (reference + one-shot HyperDPO), evaluate the front, print and plot it."""
    from .data.convert import convert
    from .data.synth import make_synthetic, synth_objectives, write_letor_text
    from .train import RunConfig, train

    t0 = time.perf_counter()
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    nq = 80 if quick else 400
    for split, seed, n in (("train", 0, nq), ("test", 1, max(nq // 3, 20))):
        write_letor_text(make_synthetic(n, 120, N_FEATURES, 2, -0.5, seed=seed), out_dir / f"{split}.txt")
    print(json.dumps(convert(out_dir / "train.txt", out_dir / "train.parquet",
                             objectives=synth_objectives(N_FEATURES, 2))))
    print(json.dumps(convert(out_dir / "test.txt", out_dir / "test.parquet", objectives_from=out_dir / "train.parquet")))
    cfg = RunConfig.from_dict({
        "data": {"train": str(out_dir / "train.parquet"), "test": str(out_dir / "test.parquet"),
                 "slate_length": 60, "batch_size": 16},
        "model": {"kind": "mlp", "hidden": [128, 64], "dropout": 0.0},
        "reference": {"epochs": 4 if quick else 12, "lr": 2e-3},
        "hyperdpo": {"epochs": 4 if quick else 12, "lr": 2e-3},
    })
    run_dir = out_dir / "run"
    if (run_dir / "checkpoint.pt").exists():
        import shutil

        shutil.rmtree(run_dir)
    res = train(cfg, run_dir)
    front = json.loads((run_dir / "front" / "front.json").read_text())
    print()
    print(_table_from_json(front))
    print()
    print(f"one model, {len(front['points'])} trade-offs; test hypervolume {front['hypervolume']:.4f} "
          f"(reference model alone {front['reference_hypervolume']:.4f}); plot: {run_dir / 'front' / 'front.png'}")
    print(f"demo finished in {time.perf_counter() - t0:.1f}s (training {res.train_seconds:.1f}s)")
    return 0


def _table_from_json(front: dict) -> str:
    names = front["objectives"]
    head = [f"w_{n}" for n in names] + [f"NDCG@10 {n}" for n in names] + ["front"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for p in front["points"]:
        lines.append("| " + " | ".join([f"{v:.1f}" for v in p["w"]] + [f"{v:.4f}" for v in p["ndcg@10"]]
                                       + ["*" if p["nondominated"] else ""]) + " |")
    ref = front["reference"]["ndcg@10"]
    lines.append("| reference | " + " | " * (len(names) - 1) + " | ".join(f"{v:.4f}" for v in ref) + " | |")
    return "\n".join(lines)
