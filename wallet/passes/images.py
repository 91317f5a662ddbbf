"""Pass codes as images for the wallet endpoints: render with a cache lifetime, and answer with the
ETag and ``Cache-Control: private`` every barcode endpoint uses (member cards, coupons)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, request

from wallet.core.errors import ValidationFailed
from wallet.passes.models import Pass
from wallet.passes.render import InvalidRenderOptions, RenderedImage, RenderOptions, render
from wallet.passes.services import describe_pass
from wallet.passes.symbologies import InvalidContent, Symbology

STATIC_MAX_AGE = 86400  # a static number does not change; a day keeps phones from re-asking all the time

# The OpenAPI description of a barcode endpoint's 200 body.
IMAGE_CONTENT = {
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "image/svg+xml": {"schema": {"type": "string"}},
}


@dataclass(frozen=True)
class PassImage:
    image: RenderedImage
    max_age: int
    """Seconds the image stays good: a day for static numbers, the rest of the step for rotating codes."""


def render_code(content: str, symbology: Symbology, options: RenderOptions, *, max_age: int) -> PassImage:
    """``content`` drawn as ``symbology``; options that cannot give a usable image are a 422 ``unrenderable``."""
    try:
        return PassImage(render(content, symbology, options), max_age)
    except (InvalidRenderOptions, InvalidContent) as error:
        raise ValidationFailed(f"These options give no usable image: {error}", errors={"query": {"_": [str(error)]}},
                               reason="unrenderable") from None


def render_live_code(pass_: Pass, options: RenderOptions, *, now: float | None = None) -> PassImage:
    """The pass's current rotating code as a QR image, good until the end of its time step."""
    descriptor = describe_pass(pass_, now=now)
    return render_code(descriptor.current_code, Symbology.QR, options, max_age=descriptor.valid_for_seconds)


def image_response(rendered: PassImage) -> Response:
    """The HTTP answer for a rendered code (for routes): ETag, 304 on a match, private caching."""
    response = Response(rendered.image.data, mimetype=rendered.image.media_type)
    response.add_etag()
    response.cache_control.private = True
    response.cache_control.max_age = rendered.max_age
    response = response.make_conditional(request)
    # werkzeug's make_conditional stamps a Date, which the HTTP server (gunicorn) adds to every
    # answer as well: the client would get two. The date is the server's to give.
    del response.headers["Date"]
    return response
