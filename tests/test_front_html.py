"""``front.html`` in a real browser: headless Chromium (Debian's ``chromium``, installed by ``.ci/run``) loads the
page from a local file with the network off; the points plotly drew equal ``front.json``; no console errors; a
screenshot is taken (kept in ``$LTR_HYPERDPO_ARTIFACTS`` when set)."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("plotly")

from ltr_hyperdpo.eval.front import FrontResult  # noqa: E402
from ltr_hyperdpo.eval.pareto import hypervolume, nondominated  # noqa: E402
from ltr_hyperdpo.eval.report import write_front  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=15000", "--enable-logging=stderr", "--v=0"]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no chromium here (.ci/run installs Debian's chromium package)")
    return path


def a_front(k: int, n: int = 11, seed: int = 0) -> FrontResult:
    rng = np.random.default_rng(seed)
    from ltr_hyperdpo.core.grids import weight_grid

    W = weight_grid(k, n)
    nd10 = 0.4 + 0.3 * W + 0.01 * rng.normal(size=W.shape)
    nd5 = nd10 - 0.05
    ref = np.full(k, 0.45)
    rp = np.zeros(k)
    return FrontResult(objective_names=[f"obj{i}" for i in range(k)], weights=W,
                       metrics={"ndcg@5": nd5, "ndcg@10": nd10}, reference_metrics={"ndcg@5": ref - .05,
                                                                                    "ndcg@10": ref},
                       front_metric="ndcg@10", ref_point=rp, hypervolume=hypervolume(nd10, rp),
                       reference_hypervolume=hypervolume(ref[None], rp), nondominated=nondominated(nd10),
                       blank_queries=[0] * k, blank_policy="skip")


def load(page: Path, tmp: Path, *extra: str, fragment: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={tmp / 'profile'}", *extra,
                           page.as_uri() + fragment],
                          capture_output=True, text=True, timeout=180)


def console_errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if "CONSOLE" in ln and re.search(r"Uncaught|Error|error", ln)]


@pytest.mark.slow
@pytest.mark.parametrize("k", [2, 3])
def test_front_html_draws_front_json_in_chromium(tmp_path, k):
    res = a_front(k)
    paths = write_front(res, tmp_path / "front", serve_command="ltr-hyperdpo predict RUN --data D --w {w} --out s")
    page = Path(paths["html"])
    text = page.read_text()
    assert "<script src=" not in text and len(text) > 1_000_000  # plotly.js embedded: nothing to fetch
    front = json.loads(Path(paths["json"]).read_text())
    out = load(page, tmp_path, "--dump-dom")
    assert out.returncode == 0, out.stderr[-2000:]
    assert not console_errors(out.stderr), console_errors(out.stderr)
    m = re.search(r'<pre id="rendered"[^>]*>(.*?)</pre>', out.stdout, re.S)
    assert m and m.group(1), "the page did not report what it drew"
    drawn = json.loads(html.unescape(m.group(1)))
    want = np.array([p["ndcg@10"] for p in front["points"]])
    if k == 2:
        (traces,) = drawn
        front_trace = next(t for t in traces if t["name"].startswith("one model"))
        assert front_trace["n"] == len(front["points"])
        assert np.allclose(front_trace["x"], want[:, 0]) and np.allclose(front_trace["y"], want[:, 1])
        assert any(t["name"] == "reference model" for t in traces)
    else:
        assert len(drawn) == k + 1  # one ternary map per objective, then parallel coordinates
        assert [t[0]["type"] for t in drawn] == ["scatterternary"] * k + ["parcoords"]
        assert all(t[0]["n"] == len(front["points"]) for t in drawn)
    clicked = load(page, tmp_path, "--dump-dom", fragment="#click=3")
    cmd = re.search(r'<pre id="command">(.*?)</pre>', clicked.stdout, re.S)
    w3 = " ".join(f"{v:g}" for v in front["points"][3]["w"])
    assert cmd and html.unescape(cmd.group(1)) == f"ltr-hyperdpo predict RUN --data D --w {w3} --out s"
    shot = tmp_path / f"front_k{k}.png"
    s = load(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,1400", "--hide-scrollbars")
    assert s.returncode == 0 and shot.exists() and shot.stat().st_size > 20_000  # a drawn page, not a blank one
    if os.environ.get("LTR_HYPERDPO_ARTIFACTS"):
        dest = Path(os.environ["LTR_HYPERDPO_ARTIFACTS"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, dest / shot.name)
        shutil.copy(page, dest / f"front_k{k}.html")


def test_front_html_data_survives_a_closing_script_tag(tmp_path):
    """Text that would end a ``<script>`` (``</script>`` in an objective's name) is escaped in the page's data."""
    res = a_front(2)
    res.objective_names = ["rel</script><b>x", "obj1"]
    paths = write_front(res, tmp_path / "f")
    text = Path(paths["html"]).read_text()
    data = re.search(r'<script id="front-data" type="application/json">(.*?)</script>', text, re.S)
    assert data is not None
    assert json.loads(data.group(1))["objectives"][0] == "rel</script><b>x"
