"""The exceptions `unified` raises for user errors.

Every error says what was expected, what came, and how to fix it. Each class
also derives from the built-in exception a Python user would catch for the same
mistake (``TypeError`` for a wrong kind of argument, ``ValueError`` for a wrong
value), so ``except TypeError`` keeps working, as it does with JAX.
"""

from __future__ import annotations


class UnifiedError(Exception):
    """Base class of every error `unified` raises on purpose."""


class BackendNotFoundError(UnifiedError, LookupError):
    """A backend name that is unknown, or whose framework is not installed."""


class BackendMismatchError(UnifiedError, TypeError):
    """Arrays (or modules) of two different backends met in one call."""


class TransformError(UnifiedError, TypeError):
    """A function transform was applied to something it cannot handle."""


class ShapeError(UnifiedError, ValueError):
    """An array had a shape that the call cannot accept."""


class DTypeError(UnifiedError, TypeError):
    """A dtype name that is unknown, or unsupported by the active backend."""


class DeviceError(UnifiedError, ValueError):
    """A device that does not exist, or a move a backend cannot make."""


class CheckpointError(UnifiedError, ValueError):
    """A checkpoint that cannot be written or read as asked: malformed, damaged, or not matching ``like``.

    ``missing_keys``, ``unexpected_keys`` and ``wrong_shapes`` (name -> (expected, found)) list the
    mismatches when a checkpoint does not fit the tree it is loaded into; they are empty otherwise.
    """

    def __init__(self, message: str, *, missing_keys: list[str] | None = None,
                 unexpected_keys: list[str] | None = None,
                 wrong_shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] | None = None) -> None:
        super().__init__(message)
        self.missing_keys = missing_keys or []
        self.unexpected_keys = unexpected_keys or []
        self.wrong_shapes = wrong_shapes or {}
