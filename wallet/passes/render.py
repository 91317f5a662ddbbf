"""Render pass content as a PNG or SVG barcode, deterministically (same input, same bytes).

QR codes come from ``qrcode``; linear codes take their bar pattern from ``python-barcode``.
"""

from __future__ import annotations

import functools
import io
import itertools
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Literal

import qrcode
from barcode import EAN8, EAN13, ITF, UPCA, Code39, Code128
from barcode.base import Barcode
from barcode.writer import SVGWriter
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_M
from qrcode.image.pil import PilImage
from qrcode.image.svg import SvgPathFillImage

from wallet.passes.symbologies import Symbology, normalize_content

MIN_SCALE, MAX_SCALE = 1, 20
MIN_HEIGHT, MAX_HEIGHT = 10, 600
MAX_DIMENSION = 4096

DEFAULT_QR_SCALE = 4
DEFAULT_LINEAR_SCALE = 2
QR_BORDER_MODULES = 4  # the quiet zone ISO/IEC 18004 requires
# EAN-13 needs 11 modules on its left; the other linear symbologies need at most 10.
LINEAR_QUIET_ZONE_MODULES = 11
DEFAULT_BAR_HEIGHT_MODULES = 50
# 8 px per module keeps the monospaced text narrower than the bars for every symbology
# (the densest is all-digit Code 128: 5.5 modules per digit, a glyph is 0.6 em wide).
TEXT_SIZE_MODULES = 8
TEXT_GAP_MODULES = 2

# python-barcode's SVG is measured in mm; at CSS's 96 px per inch this makes it display
# at the size of the PNG.
_MM_PER_CSS_PX = 25.4 / 96
_PT_PER_CSS_PX = 0.75


class InvalidRenderOptions(ValueError):
    """Options that would give an unusable or unreasonably large image."""


@dataclass(frozen=True)
class RenderOptions:
    format: Literal["png", "svg"] = "png"
    scale: int | None = None
    """Pixels per module: 4 for QR and 2 for linear codes when None."""
    height: int | None = None
    """Bar height in pixels for linear codes (50 modules when None); ignored for QR."""
    quiet_zone: bool = True
    text: bool = True
    """Print the content under linear codes; ignored for QR."""

    def __post_init__(self) -> None:
        if self.format not in ("png", "svg"):
            raise InvalidRenderOptions("format must be 'png' or 'svg'")
        if self.scale is not None and not _int_between(self.scale, MIN_SCALE, MAX_SCALE):
            raise InvalidRenderOptions(f"scale must be between {MIN_SCALE} and {MAX_SCALE}")
        if self.height is not None and not _int_between(self.height, MIN_HEIGHT, MAX_HEIGHT):
            raise InvalidRenderOptions(f"height must be between {MIN_HEIGHT} and {MAX_HEIGHT}")


@dataclass(frozen=True)
class RenderedImage:
    data: bytes
    media_type: str
    width: int | None
    """Pixel size of a PNG; None for an SVG, which scales to whatever size it is shown at."""
    height: int | None


def _int_between(value: object, low: int, high: int) -> bool:
    # bool is an int subclass; scale=True is a caller bug, not a scale of 1.
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_dimensions(width: int, height: int) -> None:
    for size, name in ((width, "wide"), (height, "tall")):
        if size > MAX_DIMENSION:
            raise InvalidRenderOptions(
                f"image would be {size} px {name}; the maximum is {MAX_DIMENSION}"
            )


def render(
    content: str, symbology: Symbology, options: RenderOptions = RenderOptions()
) -> RenderedImage:
    """Render ``content`` (validated by ``normalize_content`` first) as ``symbology``."""
    content = normalize_content(symbology, content)
    if symbology is Symbology.QR:
        return _render_qr(content, options)
    return _render_linear(_LINEAR_FACTORIES[symbology](content), options)


class _CssPixelSvgImage(SvgPathFillImage):
    """qrcode's single-path SVG (white background) measured in CSS px rather than mm.

    qrcode maps 10 box units to 1 mm; counting them as px instead makes one module
    ``scale`` px, so the SVG displays at the size of the PNG.
    """

    def units(  # type: ignore[override]
        self, pixels: int | Decimal, text: bool = True
    ) -> Decimal | str:
        return str(pixels) if text else Decimal(pixels)


def _render_qr(content: str, options: RenderOptions) -> RenderedImage:
    scale = options.scale or DEFAULT_QR_SCALE
    border = QR_BORDER_MODULES if options.quiet_zone else 0
    qr = qrcode.QRCode(
        error_correction=ERROR_CORRECT_M, box_size=scale, border=border
    )
    qr.add_data(content)
    qr.make(fit=True)
    size = (qr.modules_count + 2 * border) * scale
    _check_dimensions(size, size)
    buffer = io.BytesIO()
    if options.format == "svg":
        qr.make_image(image_factory=_CssPixelSvgImage).save(buffer)
        return RenderedImage(buffer.getvalue(), "image/svg+xml", None, None)
    qr.make_image(image_factory=PilImage).save(buffer)
    return RenderedImage(buffer.getvalue(), "image/png", size, size)


_LINEAR_FACTORIES = {
    # GTIN classes take the body and append the check digit normalize_content verified.
    Symbology.EAN13: lambda content: EAN13(content[:-1]),
    Symbology.EAN8: lambda content: EAN8(content[:-1]),
    Symbology.UPCA: lambda content: UPCA(content[:-1]),
    Symbology.CODE128: Code128,
    # The optional mod-43 check character would show up in the scanned text.
    Symbology.CODE39: lambda content: Code39(content, add_checksum=False),
    # Wide bars 3x the narrow ones: the widest ratio ITF allows, the easiest to read, and
    # whole modules, so every bar is a whole number of pixels.
    Symbology.ITF: lambda content: ITF(content, narrow=1, wide=3),
}


@dataclass(frozen=True)
class _LinearLayout:
    """Where everything goes in a linear barcode image, in pixels."""

    pattern: str
    scale: int
    margin: int
    bar_height: int
    font_size: int
    text_height: int

    @property
    def width(self) -> int:
        return len(self.pattern) * self.scale + 2 * self.margin

    @property
    def height(self) -> int:
        text_block = TEXT_GAP_MODULES * self.scale + self.text_height if self.font_size else 0
        return 2 * self.margin + self.bar_height + text_block


def _render_linear(code: Barcode, options: RenderOptions) -> RenderedImage:
    scale = options.scale or DEFAULT_LINEAR_SCALE
    font_size = TEXT_SIZE_MODULES * scale if options.text else 0
    layout = _LinearLayout(
        pattern=code.build()[0],
        scale=scale,
        margin=LINEAR_QUIET_ZONE_MODULES * scale if options.quiet_zone else 0,
        bar_height=options.height or min(DEFAULT_BAR_HEIGHT_MODULES * scale, MAX_HEIGHT),
        font_size=font_size,
        text_height=sum(_font(font_size).getmetrics()) if font_size else 0,
    )
    _check_dimensions(layout.width, layout.height)
    if options.format == "svg":
        return RenderedImage(_linear_svg(code, layout), "image/svg+xml", None, None)
    return RenderedImage(_linear_png(code, layout), "image/png", layout.width, layout.height)


def _linear_svg(code: Barcode, layout: _LinearLayout) -> bytes:
    px = _MM_PER_CSS_PX
    writer_options = {
        "module_width": layout.scale * px,
        "module_height": layout.bar_height * px,
        "quiet_zone": layout.margin * px,
        "margin_top": layout.margin * px,
        "margin_bottom": layout.margin * px,
        "write_text": bool(layout.font_size),
        "font_size": layout.font_size * _PT_PER_CSS_PX,
        # SVG places text by its baseline, one em below the gap.
        "text_distance": (TEXT_GAP_MODULES * layout.scale + layout.font_size) * px,
        # The SVG 1.1 DOCTYPE points at an external DTD, which hardened XML parsers refuse.
        "with_doctype": False,
    }
    code.writer = SVGWriter()
    svg: bytes = code.render(writer_options)
    return svg


def _linear_png(code: Barcode, layout: _LinearLayout) -> bytes:
    # Drawn here rather than with python-barcode's ImageWriter: it converts mm to px in
    # floating point and truncates, so some bars come out a pixel short, distorting the
    # widths a scanner measures (and 1 px modules crash Pillow 13).
    image = Image.new("L", (layout.width, layout.height), 255)
    draw = ImageDraw.Draw(image)
    top, x = layout.margin, layout.margin
    for bit, run in itertools.groupby(layout.pattern):
        run_width = len(list(run)) * layout.scale
        if bit == "1":
            draw.rectangle((x, top, x + run_width - 1, top + layout.bar_height - 1), fill=0)
        x += run_width
    if layout.font_size:
        text_top = top + layout.bar_height + TEXT_GAP_MODULES * layout.scale
        draw.text(
            (layout.width // 2, text_top),
            code.get_fullcode(),
            font=_font(layout.font_size),
            fill=0,
            anchor="ma",
        )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    # The TTF python-barcode ships, so text rendering needs no system fonts.
    data = resources.files("barcode").joinpath("fonts/DejaVuSansMono.ttf").read_bytes()
    return ImageFont.truetype(io.BytesIO(data), size)
