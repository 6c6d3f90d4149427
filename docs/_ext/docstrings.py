"""A griffe extension: read `unified`'s docstrings as they are written.

The docstrings are Google-style, with three habits that griffe's Google parser
would otherwise show literally or misread:

* Sphinx roles (``:func:`chain```, ``:class:`~unified.nn.Parameter```) become
  optional cross-references: a link to the object's entry in the API reference
  when the site renders it, plain code otherwise. Names resolve as Python would
  in the docstring's scope (``:func:`chain``` in ``unified.optim`` is
  ``unified.optim.chain``); a leading ``~`` shows only the last component.
* ``Example:`` (singular, as Napoleon accepts) is read as an ``Examples:``
  section, so its doctest renders as code rather than as an admonition.
* A doctest at the top level of a docstring (a module's, typically) becomes a
  fenced ``pycon`` block, rather than markdown's nested block quotes.

Only the rendering changes: the docstrings in the source, and the doctests that
tests/test_docs.py runs, stay as written.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|meth|attr|data|mod|exc|obj):`(?P<tilde>~?)(?P<target>[\w.]+)(?:\(\))?`")
EXAMPLE_HEADING = re.compile(r"^(?P<indent>[ \t]*)Example:[ \t]*$", re.M)
# A top-level doctest: a `>>>` line at column 0 and every line after it up to a blank line.
TOP_LEVEL_DOCTEST = re.compile(r"^>>> .*(?:\n(?!\s*$).*)*", re.M)


def _resolve(scope: griffe.Object, target: str) -> str:
    """The full path of ``target`` seen from ``scope``; ``target`` itself if it cannot be resolved."""
    if target.startswith("unified"):
        return target
    head, _, rest = target.partition(".")
    try:
        path = scope.resolve(head)
    except (griffe.NameResolutionError, griffe.AliasResolutionError, KeyError):
        return target
    return f"{path}.{rest}" if rest else path


def _rewrite(obj: griffe.Object) -> None:
    docstring = obj.docstring
    if docstring is None:
        return

    def link(match: re.Match[str]) -> str:
        target = match["target"]
        title = target.rsplit(".", 1)[-1] if match["tilde"] else target
        return f'<autoref identifier="{_resolve(obj, target)}" optional><code>{title}</code></autoref>'

    text = ROLE.sub(link, docstring.value)
    text = EXAMPLE_HEADING.sub(r"\g<indent>Examples:", text)
    docstring.value = TOP_LEVEL_DOCTEST.sub(lambda m: f"```pycon\n{m[0]}\n```", text)


def _walk(obj: griffe.Object) -> None:
    _rewrite(obj)
    for member in obj.members.values():
        if not member.is_alias:  # an alias shows its target's docstring, rewritten where it is defined
            _walk(member)  # type: ignore[arg-type]


class UnifiedDocstrings(griffe.Extension):
    """Rewrite every docstring of a package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        _walk(pkg)
