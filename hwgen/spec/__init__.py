"""Network YAML -> validated, fully inferred :class:`NetworkSpec` (see docs/reference/yaml.md).

``load(path)`` / ``loads(text, source=..., base_dir=...)`` return a
:class:`NetworkSpec`; every rejection is a :class:`SpecError` naming file,
line, YAML path, what was expected and how to fix it. Each op's keys, types,
defaults, inference and folding rule live in its module of the op table
(:mod:`hwgen.ops`); :mod:`hwgen.spec.schema` holds the top-level keys and the
vocabulary the ops' keys are written in.

Decisions the documented contract leaves open
-----------------------------------
- Parameter-free layers aside, a network gives exactly one of ``weights``
  (npz, relative to the YAML's folder) and ``seed`` (random valid parameters,
  :mod:`hwgen.spec.randomweights`).
- ``requant``/``add`` always get a ``zero_point`` param (zeros when the npz has
  none), so consumers never special-case it.
- ``pe`` divides: out_features/out_channels (MVUs), the channels (threshold,
  requant, maxpool2d, add), the last axis (shiftgelu, layernorm, argmax),
  each head's part of the last axis (shiftmax), the output columns per head
  (matmul). ``simd`` divides the fan-in: in_features (dense), input channels
  (conv; FINN's SWG constraint), the contraction length per head (matmul);
  other ops have no fan-in and ``simd`` must stay 1. ``flatten`` folds
  nothing. An inline activation uses its layer's ``pe``. Each rule is the
  op's ``fold`` in the op table, which the planner's ``--fold auto`` reads too.
- ``maxpool2d`` requires ``kernel_size`` to divide H and W (FINN's constraint;
  nothing is silently dropped).
- ``shiftmax`` takes ``heads`` (default 1): softmax over each of ``heads``
  equal groups of the last axis, matching the ``[M, H*R]`` output of a
  multi-head ``matmul``.
- Every layer output except the last must feed a later layer.
- Inferred ranges are exact per output channel for MVUs (from the actual
  weights); with padding the pad value (0, or -1 for binary convs) is
  included, which may widen the range. ``shiftmax`` is ``uint{out_bits}``
  with ``hi = 2**(out_bits-1) - 1`` (needs ``x0 > -2**16``); ``shiftgelu`` is
  ``p * sig`` with ``0 <= sig <= max(127, |x0| >> 1)`` (``sig`` passes 127 only
  when ``e + em`` saturates); ``layernorm`` is ``[-2**30 + min(bias),
  2**30 - 1 + max(bias)]`` for both square roots (Newton's ``k`` never drops
  below ``isqrt(var)``, which bounds ``|y|``).
- A network is rejected when the golden model's int64 arithmetic could wrap:
  a tensor range beyond int64, ``|x| * multiplier`` of a requant/add beyond
  ``2**63 - 2``, a layernorm with ``C * (hi - lo)**2 >= 2**62``.
"""

from .errors import SpecError, SpecWarning
from .loader import load, loads
from .types import (Location, TensorType, LayerSpec, TargetSpec, NetworkSpec, frozen_array,
                    frozen_mapping)

__all__ = ["Location", "TensorType", "LayerSpec", "TargetSpec", "NetworkSpec",
           "load", "loads", "SpecError", "SpecWarning", "frozen_array", "frozen_mapping"]
