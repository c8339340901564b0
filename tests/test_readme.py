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
