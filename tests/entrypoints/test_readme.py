"""The README's embedding example is run as written: documentation that cannot rot."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def embedding_example() -> str:
    section = README.read_text().split("## Embedding the core", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README lost its embedding example"
    return match.group(1)


def test_the_readme_embedding_example_runs():
    namespace: dict[str, object] = {}
    exec(compile(embedding_example(), str(README), "exec"), namespace)
    assert "approval" in namespace
