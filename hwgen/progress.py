"""Progress bars for long steps (tqdm), on an interactive terminal only.

The commands print one line per step either way (``[2/3] Verilator build``);
a bar adds what moves inside a step: epochs trained, samples simulated, the
seconds a tool has been running and its last progress line. On a pipe, in
CI or in a log file (stderr not a terminal) the bars are off, so logs keep
only the step lines. ``HWGEN_PROGRESS=1`` forces the bars on, ``0`` off.
"""

import os
import sys

from tqdm import tqdm

__all__ = ["bar", "bars_shown"]


def bars_shown() -> bool:
    """Whether :func:`bar` draws: ``HWGEN_PROGRESS`` if set, else stderr is a terminal."""
    forced = os.environ.get("HWGEN_PROGRESS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return sys.stderr.isatty()


def bar(total=None, *, desc, unit="it", enabled=True, **options):
    """A tqdm bar on stderr that disappears when done (the step line stays).

    ``total=None`` is a counter without an end (elapsed time and rate only).
    ``enabled=False`` (a caller asked for no progress) or no terminal gives a
    disabled bar, which accepts every call and draws nothing.
    """
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                dynamic_ncols=True, disable=not (enabled and bars_shown()), **options)
