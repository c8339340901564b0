"""``front.html``: a self-contained interactive page of a front (plotly, its JavaScript embedded: no network).

Each point's hover shows its weight ``w`` and every metric (every objective, every cut-off); the reference model
and any multi-run baselines are drawn beside the front. K = 2: a scatter of the front metric. K = 3: one ternary
map per objective (the point's position is its weight, its colour the objective's figure). K >= 3: also parallel
coordinates over the objectives. Clicking a point shows the command that serves it (``predict`` for an LTR run);
``front.html#click=N`` opens with point N's command shown.

The page keeps its data in ``<script id="front-data" type="application/json">`` (the same points as
``front.json``) and, once plotly has drawn, writes what it drew into ``<pre id="rendered">`` (hidden), so a browser
test can compare the drawn points with the data.
"""
from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np

from ..utils.io import atomic_write_text, dumps_json
from .front import FrontResult

#: what ``{w}`` is replaced by in a serve command template: the weights, space-separated
W_PLACEHOLDER = "{w}"


def _hover(res: FrontResult, i: int) -> str:
    w = ", ".join(f"{n}={v:.3g}" for n, v in zip(res.objective_names, res.weights[i], strict=True))
    lines = [f"w: {w}"]
    for m, v in res.metrics.items():
        lines.append(f"{m}: " + ", ".join(f"{n} {x:.4f}" for n, x in zip(res.objective_names, v[i], strict=True)))
    return "<br>".join(lines)


def front_figures(res: FrontResult, baselines: dict[str, np.ndarray] | None = None) -> list:
    """The page's plotly figures (see the module docstring)."""
    import plotly.graph_objects as go

    names = res.objective_names
    # plain lists: plotly would encode numpy arrays as base64 typed arrays, which the page's own report (and a
    # reader of the HTML) could not read back as numbers
    pts = res.points.tolist()
    wts = res.weights.tolist()
    K = len(names)

    def col(rows: list, k: int) -> list:
        return [r[k] for r in rows]

    hover = [_hover(res, i) for i in range(len(pts))]
    metric = res.front_metric
    figs = []
    if K == 2:
        fig = go.Figure()
        fig.add_trace(go.Scatter(x=col(pts, 0), y=col(pts, 1), mode="markers", name="one model (grid weights)",
                                 text=hover, hoverinfo="text", customdata=list(range(len(pts))),
                                 marker={"size": 9, "color": col(wts, 0), "colorscale": "Viridis",
                                         "colorbar": {"title": f"w_{names[0]}"}}))
        ref = np.asarray(res.reference_metrics[metric]).tolist()
        fig.add_trace(go.Scatter(x=[ref[0]], y=[ref[1]], mode="markers", name="reference model",
                                 marker={"symbol": "x", "size": 12, "color": "black"}))
        for label, b in (baselines or {}).items():
            bl = np.asarray(b).tolist()
            fig.add_trace(go.Scatter(x=col(bl, 0), y=col(bl, 1), mode="markers", name=label,
                                     marker={"symbol": "diamond"}))
        fig.update_layout(title=f"{metric}: {names[0]} vs {names[1]}", xaxis_title=f"{names[0]} {metric}",
                          yaxis_title=f"{names[1]} {metric}")
        figs.append(fig)
    if K == 3:
        for k, n in enumerate(names):
            fig = go.Figure(go.Scatterternary(a=col(wts, 0), b=col(wts, 1), c=col(wts, 2),
                                              mode="markers", text=hover, hoverinfo="text", cliponaxis=False,
                                              customdata=list(range(len(pts))),
                                              marker={"size": 10, "color": col(pts, k), "colorscale": "Viridis",
                                                      "colorbar": {"title": f"{n}"}}))
            fig.update_layout(title=f"{n} {metric} over the weight simplex",
                              ternary={"aaxis": {"title": f"w_{names[0]}"}, "baxis": {"title": f"w_{names[1]}"},
                                       "caxis": {"title": f"w_{names[2]}"}})
            figs.append(fig)
    if K >= 3:
        dims = [{"label": f"{n} {metric}", "values": col(pts, k)} for k, n in enumerate(names)]
        fig = go.Figure(go.Parcoords(dimensions=dims, line={"color": list(range(len(pts))), "colorscale": "Viridis"}))
        fig.update_layout(title=f"{metric} per objective, one line per grid weight")
        figs.append(fig)
    return figs


def write_front_html(res: FrontResult, path: str | os.PathLike, *, title: str = "",
                     serve_command: str | None = None, baselines: dict[str, np.ndarray] | None = None) -> Path:
    """Write the page (atomically). ``serve_command`` is shown for a clicked point, ``{w}`` replaced by its
    weights."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    figs = front_figures(res, baselines)
    divs = [pio.to_html(f, include_plotlyjs=False, full_html=False, div_id=f"fig{i}") for i, f in enumerate(figs)]
    # inside <script> the text is raw (no entities): only "</" could end it early
    data = dumps_json({**res.to_dict(), "serve_command": serve_command}).replace("</", "<\\/")
    cmd = html.escape(serve_command or "")
    script = """
const data = JSON.parse(document.getElementById('front-data').textContent);
function command(i) {
  const w = data.points[i].w.map(v => +v.toFixed(6)).join(' ');
  return data.serve_command ? data.serve_command.replace('{w}', w) : 'w = ' + w;
}
function report() {
  const drawn = [];
  document.querySelectorAll('.js-plotly-plot').forEach(gd => drawn.push(gd.data.map(t => ({
    type: t.type, name: t.name || '', n: (t.x || t.a || (t.dimensions ? t.dimensions[0].values : [])).length,
    x: t.x ? Array.from(t.x) : null, y: t.y ? Array.from(t.y) : null}))));
  document.getElementById('rendered').textContent = JSON.stringify(drawn);
}
document.querySelectorAll('.js-plotly-plot').forEach(gd => gd.on && gd.on('plotly_click', ev => {
  const p = ev.points[0];
  if (p.customdata === undefined) return;
  document.getElementById('command').textContent = command(p.customdata);
}));
window.addEventListener('load', () => {
  report();
  const m = location.hash.match(/click=(\\d+)/);  // #click=N: show point N's command (for links and tests)
  if (m) document.getElementById('command').textContent = command(+m[1]);
});
"""
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title or 'front')}</title>
<script>{get_plotlyjs()}</script>
<style>body{{font-family:sans-serif;margin:1em}} pre#command{{background:#eee;padding:.5em}}</style></head>
<body><h2>{html.escape(title or 'front')}</h2>
<p>Front metric {html.escape(res.front_metric)}; hypervolume {res.hypervolume:.6g} (reference point
{html.escape(str([round(float(v), 6) for v in res.ref_point]))}); the reference model alone {
res.reference_hypervolume:.6g}. Blank queries: {html.escape(res.blank_policy)}. Click a point for the command that
serves it{": " + cmd if cmd else ""}.</p>
<pre id="command">(click a point)</pre>
{''.join(divs)}
<script id="front-data" type="application/json">{data}</script>
<pre id="rendered" style="display:none"></pre>
<script>{script}</script>
</body></html>
"""
    path = Path(path)
    atomic_write_text(path, page)
    return path
