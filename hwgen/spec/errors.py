"""The one exception (and one warning) the spec loader raises.

Every rejection of a network YAML is a :class:`SpecError` that says *what* is
wrong, *where* (file, 1-based line, YAML path such as ``layers[2].activation.bits``)
and, when we can tell, *how to fix it* (the ``hint``).
"""

from __future__ import annotations

import difflib

__all__ = ["SpecError", "SpecWarning", "closest", "did_you_mean"]


class SpecError(Exception):
    """A network YAML (or its weights file) is not a valid hwgen network.

    Attributes
    ----------
    file : str          the YAML path as given to ``load()`` (``"<string>"`` for ``loads``)
    line : int or None  1-based line of the offending key/value (the layer's line
                        for a missing key); None when no line applies
    path : str          YAML path, e.g. ``layers[1].op``; ``""`` for the whole file
    message : str       what is wrong and what was expected
    hint : str or None  how to fix it

    ``str(error)`` is ``"{file}:{line}: {path}: {message}"`` followed by
    ``" (hint: {hint})"``. A "did you mean" suggestion is printed bare, as
    ``" (did you mean 'binary_dense'?)"``, the way compilers print it.
    """

    def __init__(self, message: str, *, file: str = "<string>", line: int | None = None,
                 path: str = "", hint: str | None = None):
        self.file = file
        self.line = line
        self.path = path
        self.message = message
        self.hint = hint
        super().__init__(str(self))

    @property
    def where(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}" if self.path else where

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        if self.hint:
            if self.hint.startswith("did you mean"):
                text += f" ({self.hint})"
            else:
                text += f" (hint: {self.hint})"
        return text

    def __reduce__(self):
        return (_rebuild, (self.message, self.file, self.line, self.path, self.hint))


def _rebuild(message, file, line, path, hint):
    return SpecError(message, file=file, line=line, path=path, hint=hint)


class SpecWarning(UserWarning):
    """Something in a network is suspicious but loadable (e.g. unused npz keys)."""


def closest(word, candidates) -> str | None:
    """The candidate closest to ``word`` (difflib), or None when nothing is close."""
    if not isinstance(word, str):
        return None
    matches = difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word, candidates, *, otherwise: str | None = None) -> str | None:
    match = closest(word, candidates)
    if match is not None:
        return f"did you mean {match!r}?"
    return otherwise
