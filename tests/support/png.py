"""Reading the pixels of a PNG file (for rendering tests).

``read_png(data)`` decodes what rsvg-convert, cairosvg and Chromium write, with Pillow (installed with
cairosvg), enough to ask what colour a pixel is.
"""

from __future__ import annotations

import io
from dataclasses import dataclass


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    channels: int
    rows: tuple[bytes, ...]

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        """The colour at (``x``, ``y``), alpha dropped (composited on white)."""
        row, at = self.rows[y], x * self.channels
        r, g, b = row[at], row[at + 1], row[at + 2]
        if self.channels == 4:
            alpha = row[at + 3] / 255
            r, g, b = (round(c * alpha + 255 * (1 - alpha)) for c in (r, g, b))
        return r, g, b

    def darkness(self, x: int, y: int) -> int:
        """255 minus the pixel's mean: 0 for white paper, 255 for black ink."""
        return 255 - sum(self.pixel(x, y)) // 3


def read_png(data: bytes) -> Png:
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("not a PNG file")
    from PIL import Image  # Pillow comes with cairosvg, a test dependency

    with Image.open(io.BytesIO(data)) as image:
        rgba = image.convert("RGBA")
    width, height = rgba.size
    raw = rgba.tobytes()
    stride = width * 4
    return Png(width, height, 4, tuple(raw[y * stride:(y + 1) * stride] for y in range(height)))
