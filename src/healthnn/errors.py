"""One exception family for everything a user can fix.

Every error that reaches a user says *where* (file, row, column or config key), *what* was
expected, and *how to fix it*. The CLI prints ``str(error)`` as one line and exits non-zero;
tracebacks appear only with ``--debug``.

Messages never contain cell values from patient data beyond what is needed to locate the
problem (a short, truncated excerpt of a non-numeric value in a numeric column).
"""

from __future__ import annotations

__all__ = [
    "HealthnnError",
    "ConfigError",
    "DataError",
    "BundleError",
]


class HealthnnError(Exception):
    """Base class for errors with a message meant for the user.

    Parameters
    ----------
    message:
        What went wrong.
    file, row, column, key:
        Where it went wrong, when known. ``row`` is the 1-based data row (header excluded).
    hint:
        How to fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.key = key
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.key:
            where.append(f"key '{self.key}'")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        text = (": ".join([", ".join(where), self.message]) if where else self.message)
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigError(HealthnnError):
    """The experiment configuration is invalid (unknown key, wrong type, bad value)."""


class DataError(HealthnnError):
    """Input data cannot be used (missing file or column, wrong type, impossible values)."""


class BundleError(HealthnnError):
    """A trained bundle is missing, incomplete, or was written by an incompatible version."""


def short(value: object, limit: int = 20) -> str:
    """A truncated repr of a cell value, so messages locate a problem without copying data."""
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")
