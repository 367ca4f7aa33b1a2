"""The exception tree of the cep library: every error a user can cause is a CepError.

    CepError                      root; pages and the CLI catch only this
    ├── PatternError              a pattern value, file or PATTERN text is invalid
    │   └── MatchRuntimeError     a valid pattern failed while matching (e.g. SKIP TO the first row)
    ├── ExpressionError           a SQL condition does not parse or is not allowed
    ├── EventDataError            an events file or frame cannot be used
    ├── UnsupportedFeature        valid input that this part (kind, target, dialect) cannot handle
    ├── SinkError                 an alert sink failed (alerts)
    └── StoreError                the history store failed (history)

Messages say what is wrong, where (file, row, field, position) and how to fix it.
"""

from __future__ import annotations


class CepError(Exception):
    """Root of every error the cep library raises on bad input or failed I/O."""


class PatternError(CepError):
    """A pattern (its JSON/YAML/SQL form, a field, or its PATTERN text) is invalid."""


class MatchRuntimeError(PatternError):
    """A valid pattern failed while matching, as the SQL standard requires (e.g. skip loops)."""


class ExpressionError(CepError):
    """A SQL condition does not parse or uses something outside the allowlist.

    Attributes:
        position: 0-based character offset of the offending token in the text, if known.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class EventDataError(CepError):
    """Event data (a file or a frame) cannot be loaded or does not fit the pattern."""


class UnsupportedFeature(CepError):
    """Valid input that this component cannot handle, named with the feature and the component."""


class SinkError(CepError):
    """An alert sink could not deliver."""


class StoreError(CepError):
    """The history store could not read or write."""
