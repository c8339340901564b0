"""Writing a front: CSV and JSON tables, the PNG plot, and a printable markdown table."""
from __future__ import annotations

import csv
import io

from ..utils.io import atomic_write_json, atomic_write_text, output_dir
from .controllability import summary_line
from .front import FrontResult
from .html import write_front_html
from .plots import plot_fronts


def front_table_rows(res: FrontResult) -> tuple[list[str], list[list]]:
    """Header and rows: one row per weight, NDCG@k per objective, non-dominated flag; the reference last."""
    metrics = list(res.metrics)
    head = [f"w_{n}" for n in res.objective_names]
    for m in metrics:
        head += [f"{m}_{n}" for n in res.objective_names]
    head.append("nondominated")
    rows: list[list] = []
    for i, w in enumerate(res.weights):
        r = [f"{v:.3f}" for v in w]
        for m in metrics:
            r += [f"{v:.5f}" for v in res.metrics[m][i]]
        rows.append(r + [int(res.nondominated[i])])
    ref = ["ref"] + [""] * (len(res.objective_names) - 1)
    for m in metrics:
        ref += [f"{v:.5f}" for v in res.reference_metrics[m]]
    rows.append(ref + [""])
    return head, rows


def markdown_table(res: FrontResult) -> str:
    """The front as a printable table, with what its marks and its hypervolume mean."""
    head, rows = front_table_rows(res)
    head[-1] = "front"
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(v) for v in r[:-1]) + (" | * |" if r[-1] == 1 else " | |") for r in rows]
    lines.append("")
    lines.append("* = non-dominated: no other weight's point is at least as good on every objective and better on one.")
    lines.append(f"hypervolume ({res.front_metric}, reference point {res.ref_point.tolist()}, maximise): "
                 f"{res.hypervolume:.6g}; reference model alone: {res.reference_hypervolume:.6g} (the volume the "
                 f"points dominate above the reference point: larger is better)")
    lines.append(f"queries with no relevant document ({res.blank_policy} policy): "
                 + ", ".join(f"{n} {b}" for n, b in zip(res.objective_names, res.blank_queries,
                                                                      strict=True)))
    ctl = res.extra.get("controllability")
    if ctl:
        lines.append(summary_line(ctl))
        lines += [f"warning: {finding}" for finding in ctl["inactive"]]
    alt = res.extra.get("trec_eval_convention")
    if alt:
        ref = ", ".join(f"{n} {v:.4f}" for n, v in zip(res.objective_names, alt["reference"], strict=True))
        lines.append(f"trec_eval convention ({alt['note']}): the reference model's {alt['metric']} is {ref}; "
                     f"front.json holds every point's")
    return "\n".join(lines)


def write_front(res: FrontResult, out_dir, title: str = "", serve_command: str | None = None,
                baselines: dict | None = None) -> dict:
    """Write ``front.csv``, ``front.json``, ``front.png`` and the interactive ``front.html`` into ``out_dir``
    (atomically); return the paths. ``serve_command`` (``{w}`` = the weights) is what the page shows for a clicked
    point; ``baselines`` (label -> ``[points, objectives]``) are drawn beside the front on the page."""
    out = output_dir(out_dir)
    head, rows = front_table_rows(res)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(head)
    w.writerows(rows)
    atomic_write_text(out / "front.csv", buf.getvalue())
    atomic_write_json(out / "front.json", res.to_dict())
    m = res.front_metric
    plot_fronts({"HyperDPO (one model)": res.metrics[m]}, res.objective_names, out / "front.png",
                reference=res.reference_metrics[m], nondominated={"HyperDPO (one model)": res.nondominated},
                title=title or f"front, hypervolume {res.hypervolume:.4g} (labels: w_{res.objective_names[0]})"
                if len(res.objective_names) == 2 else title or f"front, hypervolume {res.hypervolume:.4g}",
                metric=m.upper() if m.startswith("ndcg") else m.replace("_", " "),
                weights=res.weights)
    write_front_html(res, out / "front.html", title=title.replace("\n", " ") if title else "front",
                     serve_command=serve_command, baselines=baselines)
    return {"csv": str(out / "front.csv"), "json": str(out / "front.json"), "png": str(out / "front.png"),
            "html": str(out / "front.html")}
