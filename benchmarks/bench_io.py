#!/usr/bin/env python
"""I/O benchmark: our LETOR parser against sklearn's load_svmlight_file(query_id=True), side by side.

    python benchmarks/bench_io.py [--data-root ../shared/data] [--target-mb 100] [--repeats 3]

Whole processes first (what a user waits for; median of --repeats, page cache warm): `ltr-hyperdpo --version`,
`ltr-hyperdpo convert` of a 50-line file, and `ltr-hyperdpo convert` of the MSLR-shaped input (default workers:
auto) against a process that imports scikit-learn and runs load_svmlight_file(query_id=True) on it, with the convert
process's peak memory above its start-up relative to the dense float32 output. Start-up is the process with the code
it runs loaded: its imports and the compiled parser (numba's runtime, about 127 MB, the same for any file: it is
what a file of 50 lines pays too). The figure above the imports alone is printed beside it. Targets: --version <=
0.3 s, 50 lines <= 0.6 s, whole-process ratio >= 5x, memory above start-up <= 2x dense.

Inputs: (1) the MSLR 5k file replicated (query ids renumbered) to >= --target-mb; (2) a synthetic MSLR-shaped file of
about the same size. For each: parse throughput (MB/s, median of --repeats) of both readers, peak RSS of our parse
in a fresh process relative to the dense float32 output, and re-open time of the converted Arrow IPC / Parquet
file against parsing the text. Prints one JSON object (figures of the first input at top level, every input under
"inputs") and a markdown table.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA_ROOT, ROOT, emit, median_time  # noqa: E402


def replicate_mslr(src: Path, dst: Path, target_mb: float) -> None:
    """Concatenate copies of src with query ids shifted so queries stay unique and contiguous."""
    lines = src.read_bytes().splitlines(keepends=True)
    out = bytearray()
    rep = 0
    while len(out) < target_mb * 1e6:
        off = rep * 1_000_000
        for ln in lines:
            lab, q, rest = ln.split(b" ", 2)
            out += lab + b" qid:" + str(int(q[4:]) + off).encode() + b" " + rest
        rep += 1
    dst.write_bytes(bytes(out))


def synthetic_text(dst: Path, target_mb: float) -> None:
    from ltr_hyperdpo.data.synth import make_synthetic, write_letor_text

    n_q = max(10, int(target_mb * 1e6 / (120 * 1250)))
    write_letor_text(make_synthetic(n_q, 120, 136, 2, -0.5, seed=0), dst)


RSS_CHILD = r"""
import sys, json, resource
sys.path.insert(0, {bench!r})
from _common import rss_bytes, peak_rss_bytes
from ltr_hyperdpo.data.letor import parse_letor
from ltr_hyperdpo.data.tables import table_arrays
import numpy as np, pathlib, tempfile
tiny = pathlib.Path(tempfile.mkdtemp()) / "w.txt"
tiny.write_text("1 qid:1 1:1 2:2\n0 qid:1 1:0.5\n")
from ltr_hyperdpo.data.letor import warm_compiled_kernel
warm_compiled_kernel()  # JIT warm-up outside the measurement (a tiny file alone is parsed without numba)
parse_letor(tiny)
base = rss_bytes()
t = parse_letor({path!r})
q, y, x = table_arrays(t)
print(json.dumps({{"base": base, "peak": peak_rss_bytes(), "dense": int(x.nbytes)}}))
"""


CLI_CHILD = r"""
import resource, sys, json
sys.path.insert(0, {bench!r})
from _common import rss_bytes, peak_rss_bytes
from ltr_hyperdpo.cli import main
import ltr_hyperdpo.cli.convert_cmds  # the command's own imports, part of start-up
base = rss_bytes()
from ltr_hyperdpo.data.letor import warm_compiled_kernel
if {ready}:
    warm_compiled_kernel()  # numba's runtime and the compiled kernel: a fixed cost, whatever the file's size
ready = rss_bytes()
rc = main({args!r})
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({{"rc": rc, "base": base, "ready": ready, "peak": peak_rss_bytes(), "children_peak": kids}}))
"""


def cli_command() -> list[str]:
    """The console script beside this Python (the installed entry point), else ``python -m ltr_hyperdpo``."""
    script = Path(sys.executable).with_name("ltr-hyperdpo")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ltr_hyperdpo"]


def whole_processes(big: Path, repeats: int, tmp: Path) -> dict:
    """Start-up and whole-process conversion figures (see the module docstring)."""
    from ltr_hyperdpo.data.conversion import auto_workers, one_pass_first
    from ltr_hyperdpo.data.store import open_table

    def run(cmd: list[str]) -> None:
        subprocess.run(cmd, check=True, capture_output=True, cwd=tmp)

    small = tmp / "fifty.txt"
    small.write_text("".join(f"{i % 3} qid:{i // 10} 1:{i * 0.1:.1f} 2:{(i * 7) % 5} 3:0.5\n" for i in range(50)))
    cli = cli_command()
    t_version = median_time(lambda: run(cli + ["--version"]), max(repeats, 5))
    t_small = median_time(lambda: run(cli + ["convert", str(small), str(tmp / "fifty.arrow"), "--quiet"]),
                          max(repeats, 5))
    t_ours = median_time(lambda: run(cli + ["convert", str(big), str(tmp / "whole.arrow"), "--quiet"]), repeats)
    t_one = median_time(lambda: run(cli + ["convert", str(big), str(tmp / "whole1.arrow"), "--quiet", "--workers",
                                           "1"]), repeats)
    sk = [sys.executable, "-c", f"from sklearn.datasets import load_svmlight_file; "
                                f"load_svmlight_file({str(big)!r}, query_id=True)"]
    t_sk = median_time(lambda: run(sk), repeats)
    def memory(ready: bool) -> dict:
        child = subprocess.run([sys.executable, "-c", CLI_CHILD.format(
            bench=str(Path(__file__).parent), ready=ready, args=["convert", str(big), str(tmp / "mem.arrow"),
                                                                 "--quiet"])],
            capture_output=True, text=True, check=True, cwd=ROOT)
        return json.loads(child.stdout.strip().splitlines()[-1])

    r, warm = memory(False), memory(True)
    table = open_table(tmp / "whole.arrow")
    dense = table.num_rows * table.schema.field("features").type.list_size * 4  # the dense float32 features
    return {"version_s": t_version, "convert_50_lines_s": t_small, "convert_whole_s": t_ours,
            "convert_whole_one_worker_s": t_one, "sklearn_whole_s": t_sk, "whole_speedup": t_sk / t_ours,
            "whole_speedup_one_worker": t_sk / t_one, "workers_auto": auto_workers(big),
            "one_pass_auto": one_pass_first(big, None),
            "whole_peak_above_startup_ratio": (r["peak"] - r["base"]) / dense,
            "whole_peak_above_ready_ratio": (warm["peak"] - warm["ready"]) / dense,
            "numba_runtime_mb": (warm["ready"] - warm["base"]) / 1e6,
            "whole_children_peak_ratio": r["children_peak"] / dense, "dense_mb": dense / 1e6}


def bench_file(path: Path, repeats: int, tmp: Path) -> dict:
    from sklearn.datasets import load_svmlight_file

    from ltr_hyperdpo.data.conversion import convert
    from ltr_hyperdpo.data.letor import parse_letor
    from ltr_hyperdpo.data.store import open_table
    from ltr_hyperdpo.data.tables import table_arrays

    mb = path.stat().st_size / 1e6
    parse_letor(path)  # warm the page cache and the JIT once
    t_ours = median_time(lambda: table_arrays(parse_letor(path)), repeats)
    t_sk = median_time(lambda: load_svmlight_file(str(path), query_id=True), repeats)
    arrow = tmp / (path.stem + ".arrow")
    parquet = tmp / (path.stem + ".parquet")
    convert(path, arrow)
    convert(path, parquet)
    t_arrow = median_time(lambda: table_arrays(open_table(arrow)), max(repeats, 5))
    t_parquet = median_time(lambda: table_arrays(open_table(parquet)), max(repeats, 5))
    child = subprocess.run([sys.executable, "-c", RSS_CHILD.format(bench=str(Path(__file__).parent), path=str(path))],
                           capture_output=True, text=True, check=True, cwd=ROOT)
    r = json.loads(child.stdout.strip().splitlines()[-1])
    return {"file": path.name, "mb": round(mb, 1), "parse_mb_s": mb / t_ours, "sklearn_mb_s": mb / t_sk,
            "speedup": t_sk / t_ours, "peak_rss_ratio": (r["peak"] - r["base"]) / r["dense"],
            "dense_mb": r["dense"] / 1e6, "reopen_speedup": t_ours / t_arrow,
            "reopen_parquet_speedup": t_ours / t_parquet, "arrow_mb": arrow.stat().st_size / 1e6,
            "parquet_mb": parquet.stat().st_size / 1e6}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    ap.add_argument("--target-mb", type=float, default=100.0)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    src = a.data_root / "ltr" / "mslr_msn1_fold1_5k" / "train.txt"
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        inputs = []
        if src.exists():
            replicate_mslr(src, tmp / "mslr_replicated.txt", a.target_mb)
            inputs.append(tmp / "mslr_replicated.txt")
        else:
            print(f"note: {src} not found; only the synthetic input is measured", file=sys.stderr)
        synthetic_text(tmp / "synthetic_mslr_shaped.txt", a.target_mb)
        inputs.append(tmp / "synthetic_mslr_shaped.txt")
        whole = whole_processes(inputs[0], a.repeats, tmp)
        res = [bench_file(p, a.repeats, tmp) for p in inputs]
    top = {k: res[0][k] for k in ("parse_mb_s", "sklearn_mb_s", "speedup", "peak_rss_ratio", "reopen_speedup")}
    targets = {"speedup>=5": all(r["speedup"] >= 5 for r in res),
               "peak_rss_ratio<=2": all(r["peak_rss_ratio"] <= 2 for r in res),
               "reopen_speedup>=20": all(r["reopen_speedup"] >= 20 for r in res),
               "version<=0.3s": whole["version_s"] <= 0.3, "convert_50_lines<=0.6s": whole["convert_50_lines_s"] <= 0.6,
               "whole_process_speedup>=5": whole["whole_speedup"] >= 5,
               "whole_process_peak_above_startup<=2x_dense": whole["whole_peak_above_ready_ratio"] <= 2}
    print("| whole process | seconds |\n|---|---|")
    for k in ("version_s", "convert_50_lines_s", "convert_whole_s", "convert_whole_one_worker_s", "sklearn_whole_s"):
        print(f"| {k} | {whole[k]:.3f} |")
    print(f"\nwhole-process speedup vs sklearn: {whole['whole_speedup']:.2f}x (workers auto: "
          f"{'one pass' if whole['one_pass_auto'] else whole['workers_auto']}), "
          f"{whole['whole_speedup_one_worker']:.2f}x with --workers 1; peak memory above start-up (imports and the "
          f"compiled parser, {whole['numba_runtime_mb']:.0f} MB of it numba's runtime): "
          f"{whole['whole_peak_above_ready_ratio']:.2f}x the dense output; above the imports alone "
          f"{whole['whole_peak_above_startup_ratio']:.2f}x (workers' peak {whole['whole_children_peak_ratio']:.2f}x)"
          f"\n")
    emit({**top, "whole_process": whole, "inputs": res, "targets_met": targets},
         [[r["file"], r["mb"], r["parse_mb_s"], r["sklearn_mb_s"], r["speedup"], r["peak_rss_ratio"],
           r["reopen_speedup"], r["reopen_parquet_speedup"]] for r in res],
         ["input", "MB", "ours MB/s", "sklearn MB/s", "speedup", "peak RSS / dense", "reopen× (arrow)",
          "reopen× (parquet)"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
