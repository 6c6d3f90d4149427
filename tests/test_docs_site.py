"""The documentation site builds with warnings as errors (``mkdocs build --strict``).

Broken links between pages, a reference entry whose object is gone, or a docstring that
mkdocstrings cannot parse all fail here. The examples on the pages are run by
tests/test_docs_pages.py, and those in docstrings by tests/test_docs.py.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("mkdocs", path=os.path.dirname(sys.executable)) is None,
                    reason="needs the docs extra: pip install -e '.[docs]'")
def test_the_site_builds_with_warnings_as_errors(tmp_path: pathlib.Path) -> None:
    mkdocs = shutil.which("mkdocs", path=os.path.dirname(sys.executable))
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "WARNING" not in proc.stderr, proc.stderr[-5000:]
    for page in ("index.html", "getting-started/index.html", "reference/nn/index.html", "benchmarks/index.html"):
        assert (tmp_path / "site" / page).exists(), page
    # The API reference is rendered from the docstrings, not left empty.
    assert "cross_entropy" in (tmp_path / "site" / "reference" / "nn.functional" / "index.html").read_text()
