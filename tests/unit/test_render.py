"""Rendered barcodes decode back to their content with zxing-cpp, and rendering is deterministic."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from PIL import Image

from wallet.passes.codes import format_pass_code
from wallet.passes.render import InvalidRenderOptions, RenderOptions, render
from wallet.passes.symbologies import InvalidContent, Symbology, normalize_content

Format = zxingcpp.BarcodeFormat

# Content as given, what a scanner should read back, the only format the reader looks
# for (so that a pass proves the symbology, not a look-alike, was rendered) and the
# format it reports.
CASES = {
    Symbology.QR: ("Hello, wallet ✓", "Hello, wallet ✓", Format.QRCode, Format.QRCode),
    Symbology.EAN13: ("400638133393", "4006381333931", Format.EAN13, Format.EAN13),
    Symbology.EAN8: ("9638507", "96385074", Format.EAN8, Format.EAN8),
    # zxing-cpp 3 reports every UPC-A as its 13-digit GTIN (a leading 0), on purpose:
    # that is the ISO transfer format (zxing-cpp issue #1098).
    Symbology.UPCA: ("03600029145", "0036000291452", Format.UPCA, Format.UPCA),
    Symbology.CODE128: ("Wallet-128 #42 ~ok", "Wallet-128 #42 ~ok", Format.Code128, Format.Code128),
    # Standard Code 39 only: a Full ASCII reader would turn "+A" into "a".
    Symbology.CODE39: ("WALLET-39 $/+A%", "WALLET-39 $/+A%", Format.Code39Std, Format.Code39),
    Symbology.ITF: ("12345678901231", "12345678901231", Format.ITF, Format.ITF),
}


def decode(data: bytes, barcode_format: zxingcpp.BarcodeFormat) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(Image.open(io.BytesIO(data)), formats=barcode_format)


def test_every_symbology_has_a_decoding_case() -> None:
    assert set(CASES) == set(Symbology)


@pytest.mark.parametrize("symbology", list(Symbology))
def test_png_at_default_options_decodes_to_the_normalized_content(symbology: Symbology) -> None:
    content, expected_text, read_as, reported_as = CASES[symbology]
    rendered = render(content, symbology)
    assert rendered.media_type == "image/png"
    [barcode] = decode(rendered.data, read_as)
    assert barcode.format == reported_as
    assert barcode.text == expected_text
    assert expected_text.endswith(normalize_content(symbology, content))


@pytest.mark.parametrize("symbology", list(Symbology))
def test_png_at_one_pixel_per_module_still_decodes(symbology: Symbology) -> None:
    content, expected_text, read_as, _ = CASES[symbology]
    [barcode] = decode(render(content, symbology, RenderOptions(scale=1)).data, read_as)
    assert barcode.text == expected_text


@pytest.mark.parametrize("symbology", list(Symbology))
def test_png_reports_its_pixel_size(symbology: Symbology) -> None:
    rendered = render(CASES[symbology][0], symbology, RenderOptions(scale=3))
    assert (rendered.width, rendered.height) == Image.open(io.BytesIO(rendered.data)).size


def test_linear_png_is_exactly_modules_times_scale_by_bar_height_when_bare() -> None:
    options = RenderOptions(scale=3, height=40, quiet_zone=False, text=False)
    rendered = render("400638133393", Symbology.EAN13, options)
    assert (rendered.width, rendered.height) == (95 * 3, 40)  # EAN-13 is 95 modules wide


def test_human_readable_text_adds_height_under_the_bars() -> None:
    with_text = render("400638133393", Symbology.EAN13)
    without_text = render("400638133393", Symbology.EAN13, RenderOptions(text=False))
    assert with_text.height is not None and without_text.height is not None
    assert with_text.height > without_text.height
    assert with_text.data != without_text.data


def test_qr_holding_a_pass_code_round_trips_in_alphanumeric_mode() -> None:
    payload = format_pass_code("M", "K3M9QXAB", b"12345678901234567890", 56_666_666)
    rendered = render(payload, Symbology.QR)
    [barcode] = decode(rendered.data, Format.QRCode)
    assert barcode.text == payload
    # 31 characters fit version 2 (25 modules) at level M only in alphanumeric mode.
    assert rendered.width == (25 + 2 * 4) * 4


@pytest.mark.parametrize("symbology", list(Symbology))
@pytest.mark.parametrize("image_format", ["png", "svg"])
def test_rendering_twice_gives_identical_bytes(symbology: Symbology, image_format: str) -> None:
    options = RenderOptions(format=image_format)  # type: ignore[arg-type]
    content = CASES[symbology][0]
    assert render(content, symbology, options).data == render(content, symbology, options).data


@pytest.mark.parametrize("symbology", list(Symbology))
def test_svg_is_well_formed_svg(symbology: Symbology) -> None:
    rendered = render(CASES[symbology][0], symbology, RenderOptions(format="svg"))
    assert rendered.media_type == "image/svg+xml"
    assert (rendered.width, rendered.height) == (None, None)
    root = ET.fromstring(rendered.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert b"<!DOCTYPE" not in rendered.data


def test_linear_svg_carries_its_human_readable_text() -> None:
    rendered = render("400638133393", Symbology.EAN13, RenderOptions(format="svg"))
    texts = ET.fromstring(rendered.data).iter("{http://www.w3.org/2000/svg}text")
    assert [t.text for t in texts] == ["4006381333931"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scale": 0}, "^scale must be between 1 and 20$"),
        ({"scale": 21}, "^scale must be between 1 and 20$"),
        ({"scale": True}, "^scale must be between 1 and 20$"),
        ({"height": 9}, "^height must be between 10 and 600$"),
        ({"height": 601}, "^height must be between 10 and 600$"),
        ({"format": "gif"}, "^format must be 'png' or 'svg'$"),
    ],
)
def test_out_of_range_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRenderOptions, match=message):
        RenderOptions(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize("image_format", ["png", "svg"])
def test_an_image_wider_than_4096_px_is_refused(image_format: str) -> None:
    options = RenderOptions(format=image_format, scale=5)  # type: ignore[arg-type]
    message = "^image would be 4685 px wide; the maximum is 4096$"
    with pytest.raises(InvalidRenderOptions, match=message):
        render("x" * 80, Symbology.CODE128, options)


def test_the_largest_qr_at_the_largest_scale_fits() -> None:
    rendered = render("x" * 1024, Symbology.QR, RenderOptions(scale=20))
    assert rendered.width is not None and rendered.width <= 4096


def test_render_validates_content_first() -> None:
    with pytest.raises(InvalidContent, match="check digit"):
        render("4006381333932", Symbology.EAN13)
