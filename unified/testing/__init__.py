"""Testing helpers for `unified` and for third-party backends.

* :class:`BackendConformance`: the conformance suite (needs pytest); subclass
  it with ``backend = "name"`` in a test file.
* :data:`TOLERANCES`, :func:`tolerance`, :func:`assert_close`: the numeric
  tolerances per dtype, stated and justified in one place; :data:`MODEL_RTOL`
  and :func:`assert_model_close` for whole models. These need no pytest.
"""

from typing import Any

from unified.testing._tolerances import (
    EPS,
    MODEL_RTOL,
    TOLERANCES,
    Tolerance,
    assert_close,
    assert_model_close,
    tolerance,
)

__all__ = [
    "EPS",
    "MODEL_RTOL",
    "SAMPLES",
    "TOLERANCES",
    "BackendConformance",
    "Sample",
    "Tolerance",
    "assert_close",
    "assert_model_close",
    "tolerance",
]


def __getattr__(name: str) -> Any:
    # The conformance suite imports pytest; load it only when asked for.
    if name in ("BackendConformance", "SAMPLES", "Sample"):
        from unified.testing import _conformance

        return getattr(_conformance, name)
    raise AttributeError(f"module 'unified.testing' has no attribute {name!r}")
