"""`ltr-hyperdpo demo`: the main job on the embedded synthetic dataset."""
from __future__ import annotations

import json
from pathlib import Path


def run_demo(out: str, quick: bool = False) -> int:
    from .data.convert import convert
    from .data.dataset import RankingDataset
    from .data.synth import make_synthetic, write_letor_text

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    nq = 60 if quick else 300
    for split, seed in (("train", 0), ("test", 1)):
        table = make_synthetic(nq if split == "train" else nq // 2, 120, 136, 2, -0.5, seed=seed)
        write_letor_text(table, out_dir / f"{split}.txt")
    print(json.dumps(convert(out_dir / "train.txt", out_dir / "train.parquet", objectives=_synth_spec())))
    print(json.dumps(convert(out_dir / "test.txt", out_dir / "test.parquet", objectives_from=out_dir / "train.parquet")))
    ds = RankingDataset.load(out_dir / "train.parquet", fit=True)
    print(json.dumps(ds.summary()))
    return 0


def _synth_spec():
    from .data.synth import synth_objectives

    return synth_objectives(136, 2)
