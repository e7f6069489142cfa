"""Network YAML -> validated, fully inferred :class:`NetworkSpec` (see DESIGN.md section 4)."""

from .types import Location, TensorType, LayerSpec, TargetSpec, NetworkSpec

__all__ = ["Location", "TensorType", "LayerSpec", "TargetSpec", "NetworkSpec"]
