"""The Python examples of docs/pytorch.md run as written."""
import os
import re
import warnings

import pytest

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "pytorch.md")


def blocks():
    with open(DOC) as f:
        text = f.read()
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_doc_has_examples():
    assert len(blocks()) >= 4


@pytest.mark.parametrize("i", range(len(blocks())))
def test_doc_example_runs(i, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    warnings.filterwarnings("ignore")
    exec(compile(blocks()[i], f"docs/pytorch.md example {i}", "exec"), {"__name__": "__doc__"})
