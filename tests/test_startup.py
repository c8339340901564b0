"""Start-up: a command imports only what it uses (no torch, optuna, scikit-learn or scipy.stats for the data
commands), the public names still resolve, and the parser's static lists equal what they stand for."""
import importlib
import subprocess
import sys

import numpy as np
import pytest
from conftest import LINE, ROOT

HEAVY = ("torch", "optuna", "sklearn", "scipy.stats")


def imported(args: list[str], cwd) -> set[str]:
    """The modules a whole ``python -X importtime -m ltr_hyperdpo ARGS`` process imported (it must succeed)."""
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "ltr_hyperdpo", *args], cwd=cwd,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("startup")
    (d / "a.txt").write_text(LINE)
    return d


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["convert", "a.txt", "a.parquet", "--quiet"],
                                  ["inspect", "a.txt"], ["qrels", "a.txt", "--out-dir", "q"],
                                  ["convert", "--help"], ["train", "--help"]],
                         ids=["version", "help", "convert", "inspect", "qrels", "convert-help", "train-help"])
def test_light_commands_import_no_heavy_module(small, args):
    mods = imported(args, small)
    assert "ltr_hyperdpo.cli" in mods
    assert not [m for m in HEAVY if m in mods], sorted(m for m in mods if m.split(".")[0] in ("torch", "optuna",
                                                                                           "sklearn", "scipy"))


def test_a_small_conversion_loads_no_numba(small):
    """Up to SMALL_INPUT_BYTES the kernel's own Python parses (tests/test_parse_python_path.py: the same tables and
    errors as the compiled kernel), so numba's import and first dispatch (about 0.5 s) are not paid."""
    mods = imported(["convert", "a.txt", "b.arrow", "--quiet"], small)
    assert "numba" not in mods and (small / "b.arrow").exists()


def test_every_public_name_still_imports():
    import ltr_hyperdpo

    for pkg in ("", ".data", ".runs", ".serving"):
        mod = importlib.import_module("ltr_hyperdpo" + pkg)
        for name in mod.__all__:
            assert getattr(mod, name) is not None, f"ltr_hyperdpo{pkg}.{name}"
        assert set(mod.__all__) <= set(dir(mod))
        with pytest.raises(AttributeError):
            _ = mod.no_such_name
    assert ltr_hyperdpo.train.__module__ == "ltr_hyperdpo.training.api"


def test_the_parsers_static_lists_equal_what_they_stand_for():
    from ltr_hyperdpo.cli.llm import SOURCES
    from ltr_hyperdpo.cli.run import BUILTIN_METHODS
    from ltr_hyperdpo.cli.serve import FORMATS
    from ltr_hyperdpo.data.limits import PRESET_NAMES
    from ltr_hyperdpo.data.objectives import PRESETS
    from ltr_hyperdpo.llm.convert import CONVERTERS
    from ltr_hyperdpo.methods.registry import method_names
    from ltr_hyperdpo.serving.outputs import FORMATS as OUT_FORMATS

    assert set(BUILTIN_METHODS) <= set(method_names())
    assert PRESET_NAMES.split(", ") == list(PRESETS)
    assert SOURCES == ["jsonl", *CONVERTERS]
    assert FORMATS == OUT_FORMATS


def test_average_ranks_equal_scipy():
    from scipy.stats import rankdata as scipy_rankdata

    from ltr_hyperdpo.data.leakage import rankdata

    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.integers(0, 6, (50, 4)).astype(np.float64)
        np.testing.assert_array_equal(rankdata(a, axis=0), scipy_rankdata(a, axis=0))
        np.testing.assert_array_equal(rankdata(a[:, 1]), scipy_rankdata(a[:, 1]))


def test_an_unknown_method_is_one_line(small, capsys):
    from conftest import error_line

    from ltr_hyperdpo.cli import main

    assert main(["train", "--set", f"data.train={small / 'a.txt'}", "--method", "nope", "--out",
                 str(small / "r")]) == 2
    line = error_line(capsys, "train")
    assert "method" in line and "nope" in line and not (small / "r").exists()


def test_python_m_and_the_console_script_share_the_entry():
    assert (ROOT / "ltr_hyperdpo" / "__main__.py").read_text().count("from ._entry import main") == 1
    assert "ltr_hyperdpo._entry:main" in (ROOT / "setup.cfg").read_text()


MISSING = """
import sys
sys.modules[{module!r}] = None  # as if not installed: importing it raises ModuleNotFoundError
from ltr_hyperdpo.cli import main
sys.exit(main({args!r}))
"""


@pytest.mark.parametrize("module,extra,args", [
    ("optuna", "tune", ["tune", "--trials", "1", "--work", "w"]),
    ("onnx", "export", ["export", "no_run", "--out", "m.onnx"]),
    ("transformers", "llm", ["llm-generate", "no_run", "--prompt", "hi"]),
])
def test_a_missing_extra_is_one_line_naming_it(tmp_path, module, extra, args):
    p = subprocess.run([sys.executable, "-c", MISSING.format(module=module, args=args)], cwd=tmp_path,
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [f"ltr-hyperdpo {args[0]}: error: {module} is not installed and this "
                                             f"command needs it: pip install 'ltr_hyperdpo[{extra}]'"]
