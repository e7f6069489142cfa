"""Random valid parameters for ``seed:`` networks: moved to the op table (``hwgen.ops._random``),
which draws each op's parameters; this name stays for existing imports."""

from hwgen.ops._random import *          # noqa: F401,F403
from hwgen.ops._random import __all__    # noqa: F401
