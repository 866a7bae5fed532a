"""Dimensions that may be fixed, any (``-1``) or a range (``min:max``), as in OVMS's shape grammar."""

from __future__ import annotations

from dataclasses import dataclass

import openvino as ov


@dataclass(frozen=True, slots=True)
class Dim:
    """A dimension: ``Dim(5, 5)`` is fixed, ``Dim(1, 8)`` a range, ``Dim.any()`` unbounded."""

    min: int
    max: int  # -1 = no upper bound

    @classmethod
    def fixed(cls, value: int) -> Dim:
        return cls(value, value)

    @classmethod
    def any(cls) -> Dim:
        return cls(0, -1)

    @classmethod
    def from_ov(cls, dim: ov.Dimension) -> Dim:
        if dim.is_static:
            return cls.fixed(dim.get_length())
        return cls(dim.get_min_length(), dim.get_max_length())

    @property
    def is_static(self) -> bool:
        return self.min == self.max and self.max >= 0

    def accepts(self, value: int) -> bool:
        return value >= self.min and (self.max < 0 or value <= self.max)

    def to_ov(self) -> ov.Dimension:
        if self.is_static:
            return ov.Dimension(self.min)
        if self.max < 0 and self.min == 0:
            return ov.Dimension()
        return ov.Dimension(self.min, self.max)

    def metadata(self) -> int:
        """The value shown in model metadata: the size, or -1 when not fixed."""
        return self.min if self.is_static else -1

    def __str__(self) -> str:
        if self.is_static:
            return str(self.min)
        if self.max < 0 and self.min == 0:
            return "-1"
        return f"[{self.min}~{self.max}]"


Shape = tuple[Dim, ...]


def shape_from_ov(shape: ov.PartialShape) -> Shape:
    return tuple(Dim.from_ov(d) for d in shape)


def shape_to_ov(shape: Shape) -> ov.PartialShape:
    return ov.PartialShape([d.to_ov() for d in shape])
