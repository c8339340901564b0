"""The README's Python API example runs as written."""
import re

import pytest
from conftest import ROOT


def readme_block(section: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", body, flags=re.S)
    assert blocks, f"no python block under '## {section}'"
    return blocks[0]


@pytest.mark.slow
def test_python_api_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_block("Python API"), "README.md:Python API", "exec"), {})
    out = capsys.readouterr().out
    assert "hypervolume" in out and (tmp_path / "runs" / "example" / "model.pt").exists()


def test_the_add_a_method_example_registers_a_method_with_validated_parameters():
    from ltr_hyperdpo.errors import ConfigError
    from ltr_hyperdpo.methods import unregister
    from ltr_hyperdpo.training import DataSummary, RunConfig, resolve

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split("A new method is one file and one registry line", 1)[1]
    block = re.findall(r"```python\n(.*?)```", body, flags=re.S)[0]
    try:
        exec(compile(block, "README.md:add a method", "exec"), {})
        plan = resolve(RunConfig.from_dict({"method": {"name": "centre_only", "params": {"main_share": 0.8}}}),
                       DataSummary(train="t", vali=None, test=None, n_features=4, n_objectives=3))
        assert plan.method.member_weights[0] == pytest.approx([0.8, 0.1, 0.1])
        with pytest.raises(ConfigError, match="method.params.main_share"):
            RunConfig.from_dict({"method": {"name": "centre_only", "params": {"main_share": 2}}})
    finally:
        unregister("centre_only")
