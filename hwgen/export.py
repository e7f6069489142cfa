"""Verilog export: deterministic text, written atomically."""

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from amaranth.back import verilog

__all__ = ["to_verilog", "atomic_directory"]


def to_verilog(component, name: str) -> str:
    """Verilog for ``component`` with top module ``name``.

    Source-location attributes are left out: they hold absolute paths, and
    the same network must give byte-identical Verilog on every machine.
    """
    return verilog.convert(component, name=name, emit_src=False)


@contextmanager
def atomic_directory(target):
    """Yield a temporary directory that replaces ``target`` only if the block succeeds.

    On any exception the temporary directory is removed and ``target`` (if it
    existed) is untouched, so a failed run never leaves half-written outputs.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)   # mkdtemp makes it private; outputs are not
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    backup = None
    if target.exists():
        backup = target.with_name(f".{target.name}.old")
        shutil.rmtree(backup, ignore_errors=True)
        os.replace(target, backup)
    os.replace(staging, target)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
