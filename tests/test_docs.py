"""The API reference covers every public name, and every public callable documents its parameters, what it returns
and what it raises (numpy style, as the docs site renders them); the site builds with --strict."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

griffe = pytest.importorskip("griffe", reason="the docs extra (griffe, via mkdocstrings) is not installed")

PACKAGES = ("ltr_hyperdpo", "ltr_hyperdpo.llm")


def public_names() -> dict[str, list[str]]:
    import ltr_hyperdpo
    import ltr_hyperdpo.llm
    return {"ltr_hyperdpo": [n for n in ltr_hyperdpo.__all__ if n != "__version__"],
            "ltr_hyperdpo.llm": list(ltr_hyperdpo.llm.__all__)}


def sections(obj) -> dict[str, list]:
    """numpy-style docstring sections of a griffe object: kind name -> the section's value."""
    if obj.docstring is None:
        return {}
    parsed = obj.docstring.parse("numpy", warn_unknown_params=False)
    return {s.kind.value: s.value for s in parsed}


def signature_parameters(fn) -> list[str]:
    names = []
    for p in fn.parameters:
        if p.name in ("self", "cls"):
            continue
        prefix = {"var_positional": "*", "var_keyword": "**"}.get(p.kind.value, "")
        names.append(prefix + p.name)
    return names


def documented_parameters(secs: dict) -> list[str]:
    return [p.name for p in secs.get("parameters", [])]


def check_callable(fn, where: str, *, needs_raises: bool) -> list[str]:
    problems = []
    secs = sections(fn)
    if not secs:
        return [f"{where}: no docstring"]
    want, got = signature_parameters(fn), documented_parameters(secs)
    bare = [n.lstrip("*") for n in got]
    missing = [n for n in want if n.lstrip("*") not in bare]
    extra = [n for n in bare if n not in [w.lstrip("*") for w in want]]
    if missing or extra:
        problems.append(f"{where}: Parameters missing {missing}, not in the signature {extra}")
    returns = fn.returns
    returns_none = returns is None or str(returns) in ("None", "'None'")
    if not returns_none and "returns" not in secs and "yields" not in secs:
        problems.append(f"{where}: no Returns section")
    if needs_raises and "raises" not in secs:
        problems.append(f"{where}: no Raises section")
    return problems


def audit(package) -> list[str]:
    """Every problem in the docstrings of the public names of the packages (griffe's static view, as rendered)."""
    problems: list[str] = []
    for module, names in public_names().items():
        for name in names:
            obj = package[f"{module}.{name}".removeprefix("ltr_hyperdpo.")] if module != "ltr_hyperdpo" \
                else package[name]
            obj = obj.final_target if obj.is_alias else obj
            where = f"{module}.{name}"
            if obj.is_function:
                problems += check_callable(obj, where, needs_raises=True)
            elif obj.is_class:
                if not obj.docstring:
                    problems.append(f"{where}: no docstring")
                    continue
                init = obj.all_members.get("__init__")
                init = init.final_target if init is not None and init.is_alias else init
                if init is not None and init.is_function and signature_parameters(init) and \
                        not issubclass_exception(obj):
                    problems += check_callable_params_only(obj, init, where)
                for member_name, member in obj.members.items():
                    member = member.final_target if member.is_alias else member
                    if member_name.startswith("_") or not member.is_function or "property" in member.labels:
                        continue
                    problems += check_callable(member, f"{where}.{member_name}",
                                               needs_raises="raise " in (member.source or ""))
            elif not obj.docstring:
                problems.append(f"{where}: no docstring")
    return problems


def issubclass_exception(cls) -> bool:
    return any(str(b).endswith(("Error", "Exception")) for b in cls.bases)


def check_callable_params_only(cls, init, where: str) -> list[str]:
    """A class's docstring documents its constructor's parameters (merged into the class, as the site shows it)."""
    want = [n.lstrip("*") for n in signature_parameters(init)]
    got = documented_parameters(sections(cls))
    missing = [n for n in want if n not in got]
    extra = [n for n in got if n not in want]
    return [f"{where}: constructor Parameters missing {missing}, not in the signature {extra}"] \
        if missing or extra else []


@pytest.fixture(scope="module")
def package():
    return griffe.load("ltr_hyperdpo", search_paths=[str(ROOT)], resolve_aliases=True,
                       resolve_external=False, docstring_parser="numpy")


def test_api_pages_name_every_public_name():
    pages = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs" / "api").glob("*.md"))
    rendered = set(re.findall(r"^::: ([\w.]+)$", pages, flags=re.M))
    expected = {f"{m}.{n}" for m, names in public_names().items() for n in names}
    assert expected - rendered == set(), "public names missing from docs/api"
    assert rendered - expected == set(), "docs/api renders names that are not public"


def test_every_public_callable_documents_parameters_returns_and_raises(package):
    assert audit(package) == []


def test_the_audit_catches_an_undocumented_parameter(package):
    train = package["train"].final_target
    saved = train.docstring.value
    try:
        train.docstring.value = re.sub(r"\n\s*resume : .*?\n(?=\s*\w+ : )", "\n", saved, count=1, flags=re.S)
        assert train.docstring.value != saved
        assert any("ltr_hyperdpo.train: Parameters missing ['resume']" in p for p in audit(package))
    finally:
        train.docstring.value = saved


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mkdocs", path=os.path.dirname(sys.executable)) is None,
                    reason="mkdocs (the docs extra) is not installed")
def test_site_builds_strict_without_the_tutorials(tmp_path):
    """The API reference and the guides build with --strict (an unresolved reference or a broken link is a warning,
    so fails). `make docs` builds the whole site, running the tutorials; here they are left out to stay fast."""
    yaml = pytest.importorskip("yaml")
    cfg = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    cfg["nav"] = [entry for entry in cfg["nav"] if "Tutorials" not in entry]
    cfg["docs_dir"] = str(tmp_path / "docs")
    cfg["site_dir"] = str(tmp_path / "site")
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("tutorials"))
    index = tmp_path / "docs" / "index.md"  # its links to the tutorials would be broken links here
    index.write_text(re.sub(r"\[([^]]*)\]\(tutorials/[^)]*\)", r"\1", index.read_text(encoding="utf-8")))
    for plugin in cfg["plugins"]:
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            plugin["mkdocstrings"]["handlers"]["python"]["paths"] = [str(ROOT)]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "mkdocs"), "build", "--strict",
                          "-f", str(tmp_path / "mkdocs.yml")], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    html = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    assert "ltr_hyperdpo.train" in html and "Raises" in html and "evaluate_front" in html
    llm = (tmp_path / "site" / "api" / "llm" / "index.html").read_text(encoding="utf-8")
    assert "ltr_hyperdpo.llm.LLMConfig" in llm


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mkdocs", path=os.path.dirname(sys.executable)) is None,
                    reason="mkdocs (the docs extra) is not installed")
def test_a_broken_api_reference_fails_the_strict_build(tmp_path):
    """--strict is what makes the build a check: a page naming an object that does not exist fails it."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# x\n\n::: ltr_hyperdpo.no_such_name\n", encoding="utf-8")
    (tmp_path / "mkdocs.yml").write_text(
        "site_name: x\nstrict: true\nplugins:\n  - mkdocstrings:\n      handlers:\n        python:\n"
        f"          paths: [{ROOT}]\n", encoding="utf-8")
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "mkdocs"), "build", "--strict"],
                         cwd=tmp_path, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, capture_output=True, text=True)
    assert out.returncode != 0
