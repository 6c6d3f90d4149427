"""Every Python block in docs/*.md runs, on every backend (blocks of a page share one namespace).

A block whose first line is ``# (not run)`` is native code shown for comparison, and is skipped.
"""

from __future__ import annotations

import pathlib
import re

import pytest

import unified as u
from conftest import BACKENDS

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "```python" in p.read_text())
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_runs(page: pathlib.Path, backend_name: str) -> None:
    import sys
    import types

    # A real module, so that code which looks a function's module up by name (dynamo does) finds it.
    module = types.ModuleType(f"docs_{page.stem.replace('-', '_')}")
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    with u.use_backend(backend_name):
        for i, block in enumerate(BLOCK.findall(page.read_text())):
            if block.lstrip().startswith("# (not run)"):
                continue  # native framework code shown for comparison
            try:
                exec(compile(block, f"{page.name} block {i + 1}", "exec"), namespace)
            except Exception as e:
                raise AssertionError(f"{page.name}, block {i + 1} failed on {backend_name}: {e!r}\n{block}") from e


def test_the_readme_example_and_the_main_job_run() -> None:
    import subprocess
    import sys

    root = DOCS.parent
    readme = (root / "README.md").read_text()
    code = BLOCK.findall(readme)[0]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.split()[0] in ("torch", "jax")]
    assert len(lines) == len(BACKENDS) and all("[ 1.  -2.   0.5]" in line for line in lines), out.stdout
    main = subprocess.run([sys.executable, str(root / "examples" / "seed_autodiff.py")], capture_output=True,
                          text=True, timeout=600, cwd=root)
    assert main.returncode == 0 and "all backends agree" in main.stdout, main.stdout + main.stderr[-2000:]
