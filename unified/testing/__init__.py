"""Testing helpers for `unified` and for third-party backends (needs pytest).

* :class:`BackendConformance`: the conformance suite; subclass it with
  ``backend = "name"`` in a test file.
* :data:`TOLERANCES`, :func:`tolerance`, :func:`assert_close`: the numeric
  tolerances per dtype, stated and justified in one place.
"""

from unified.testing._conformance import SAMPLES, BackendConformance, Sample
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
