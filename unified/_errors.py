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
