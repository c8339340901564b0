"""The package's layers: no import cycles between subpackages, no forbidden edge, no internal import hidden in a
function; the public API; adding a method is one file plus one registry line."""
import ast
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

import ltr_hyperdpo

PKG = ROOT / "ltr_hyperdpo"

#: what each part of the package may import (the README's package map says the same in words)
ALLOWED = {
    "_version": set(),
    "_lazy": set(),
    "defaults": set(),
    "errors": set(),
    "config": {"errors"},
    "utils": {"errors"},
    "runs": {"_lazy", "errors", "utils"},
    "core": set(),
    "losses": {"core"},
    "data": {"_lazy", "errors", "config", "utils"},
    "models": {"defaults", "errors", "config", "core", "utils"},
    "eval": {"errors", "core", "data", "models", "utils"},
    "methods": {"defaults", "errors", "config", "core", "data", "models", "eval", "runs", "utils", "losses"},
    "training": {"defaults", "_version", "errors", "config", "core", "data", "models", "eval", "runs", "utils",
                 "losses", "methods"},
    "llm": {"defaults", "errors", "config", "core", "data", "models", "eval", "runs", "utils"},
    "serving": {"defaults", "_lazy", "errors", "config", "core", "data", "models", "eval", "runs", "utils", "methods",
                "training"},
    "tune": {"errors", "config", "runs", "utils", "training", "eval", "serving"},
    "demo": {"errors", "data", "eval", "runs", "utils", "training"},
    "cli": {"_version", "errors", "config", "runs", "utils", "core", "data", "models", "eval", "methods", "training",
            "serving", "llm", "tune", "demo"},
    "_entry": {"cli"},
    "__main__": {"_entry"},
    "ltr_hyperdpo": {"_lazy", "_version", "errors", "data", "eval", "models", "training", "serving"},
}


def part_of(module: str) -> str:
    """``ltr_hyperdpo.data.store`` -> ``data``; the package itself -> ``ltr_hyperdpo``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ltr_hyperdpo"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[str, bool, int]]:
    """(imported internal module, inside a function?, line) for every import statement in the file."""
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((a.name, in_function, child.lineno) for a in child.names
                           if a.name.split(".")[0] == "ltr_hyperdpo")
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.split(".")[0] != "ltr_hyperdpo":
                    pass
                elif child.module is None:  # ``from .. import defaults``: each name is a module of that package
                    out.extend((f"{target}.{a.name}", in_function, child.lineno) for a in child.names)
                else:
                    out.append((target, in_function, child.lineno))
            visit(child, nested)

    visit(tree, False)
    return out


def graph() -> tuple[dict[str, set[str]], list[str]]:
    edges: dict[str, set[str]] = {}
    hidden = []
    for path in sorted(PKG.rglob("*.py")):
        src = part_of(module_name(path))
        edges.setdefault(src, set())
        for target, in_function, line in imports_of(path):
            if in_function:
                hidden.append(f"{path.relative_to(ROOT)}:{line} imports {target} inside a function")
            dst = part_of(target)
            if dst != src:
                edges[src].add(dst)
    return edges, hidden


def test_no_internal_import_inside_functions():
    _, hidden = graph()
    assert hidden == []


#: "one responsibility per module, none over ~400 lines": the guide's bound, with a few lines of slack
MAX_MODULE_LINES = 420


def test_no_module_is_much_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in PKG.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"split these modules by responsibility: {long}"


def test_only_allowed_edges_between_parts():
    edges, _ = graph()
    unknown = sorted(set(edges) - set(ALLOWED))
    assert unknown == [], f"new parts need a place in ALLOWED (and the README's package map): {unknown}"
    bad = sorted(f"{a} -> {b}" for a, deps in edges.items() for b in deps if b not in ALLOWED[a])
    assert bad == []


def test_no_cycle_between_parts():
    edges, _ = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
            if m not in state:
                dfs(m)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            dfs(n)


def test_the_graph_check_sees_a_cycle_and_a_hidden_import(tmp_path, monkeypatch):
    # the checker itself must fail on what it is there to catch
    fake = tmp_path / "ltr_hyperdpo"
    (fake / "core").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "core" / "__init__.py").write_text("from ..llm import x\n")
    (fake / "llm").mkdir()
    (fake / "llm" / "__init__.py").write_text("def f():\n    from ..core import y\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    edges, hidden = graph()
    assert edges["core"] == {"llm"} and edges["llm"] == {"core"}
    assert len(hidden) == 1 and "llm/__init__.py:2" in hidden[0]
    with pytest.raises(AssertionError, match="import cycle"):
        test_no_cycle_between_parts()
    with pytest.raises(AssertionError):
        test_only_allowed_edges_between_parts()


def test_public_names_do_not_shadow_modules():
    import importlib

    # `import ltr_hyperdpo.X as m` must give the module wherever a public function has a module's name
    for name in ltr_hyperdpo.__all__:
        try:
            importlib.import_module(f"ltr_hyperdpo.{name}")
        except ModuleNotFoundError:
            continue
        raise AssertionError(f"ltr_hyperdpo.{name} is both a public name and a module")
    for pkg in ("data", "eval", "models", "methods", "training", "serving", "runs", "llm", "core", "losses"):
        mod = importlib.import_module(f"ltr_hyperdpo.{pkg}")
        for name in getattr(mod, "__all__", []):
            try:
                importlib.import_module(f"ltr_hyperdpo.{pkg}.{name}")
            except ModuleNotFoundError:
                continue
            raise AssertionError(f"ltr_hyperdpo.{pkg}.{name} is both a public name and a module")


def test_public_api():
    assert set(ltr_hyperdpo.__all__) >= {"train", "load_run", "RunConfig", "RunResult", "RankingDataset", "convert",
                                         "evaluate_front", "FrontResult"}
    for name in ltr_hyperdpo.__all__:
        assert hasattr(ltr_hyperdpo, name), name
    from ltr_hyperdpo import llm

    assert {"llm_train", "load_llm_run", "evaluate_llm_front", "LLMConfig"} <= set(llm.__all__)


def test_rankers_share_one_interface():
    import torch

    from ltr_hyperdpo.models import (
        HyperDPORanker,
        MemberRanker,
        Ranker,
        ReferenceRanker,
        ScorerConfig,
        SoupRanker,
        build_scorer,
    )

    c = ScorerConfig(kind="mlp", n_features=3, n_objectives=2, hidden=[4], dropout=0.0)
    ref = build_scorer(c, conditioned=False)
    rankers = [HyperDPORanker(build_scorer(c), ref), MemberRanker([(np.array([1.0, 0.0]), ref)], ref),
               SoupRanker([ref, ref], ref), ReferenceRanker(ref)]
    x = torch.randn(2, 5, 3)
    for r in rankers:
        assert isinstance(r, Ranker)
        assert r.score(x, None, [0.5, 0.5]).shape == (2, 5) and r.n_objectives == 2


def test_no_source_file_is_git_ignored():
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = [str(p.relative_to(ROOT)) for d in ("ltr_hyperdpo", "tests", "benchmarks", "data_scripts")
             for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts]
    res = subprocess.run(["git", "check-ignore", "--no-index", *files], cwd=ROOT, capture_output=True, text=True)
    assert res.stdout.split() == [], "source files hidden by .gitignore"


def test_the_data_layer_depends_on_utilities_not_on_the_training_engine(tmp_path, monkeypatch):
    # the policy: data may use utils (atomic io, memory, progress) but never runs (the loop, DDP, the lock)
    assert "runs" not in ALLOWED["data"] and "utils" in ALLOWED["data"]
    assert ALLOWED["utils"] <= {"errors"}  # utilities know nothing of training
    # and the graph check catches such an edge
    fake = tmp_path / "ltr_hyperdpo"
    for part in ("data", "runs"):
        (fake / part).mkdir(parents=True)
        (fake / part / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "data" / "batching.py").write_text("from ..runs.distributed import shard_indices\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    edges, _ = graph()
    assert "runs" in edges["data"]
    with pytest.raises(AssertionError):
        test_only_allowed_edges_between_parts()
