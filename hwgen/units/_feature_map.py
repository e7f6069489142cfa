"""Read-only geometry shared by the units that read an HWC stream of [C, H, W] feature maps."""

__all__ = ["FeatureMapGeometry"]


class FeatureMapGeometry:
    """Mixin: ``in_shape``, ``channels``, ``height``, ``width``, ``kernel`` of a windowed unit.

    The unit sets ``_in_shape``, ``_channels``, ``_height``, ``_width`` and
    ``_kernel`` (see ``_checks.check_feature_map``).
    """

    in_shape = property(lambda self: self._in_shape)
    channels = property(lambda self: self._channels)
    height = property(lambda self: self._height)
    width = property(lambda self: self._width)
    kernel = property(lambda self: self._kernel)
