"""Headers WhiteNoise adds to every static file (settings.WHITENOISE_ADD_HEADERS_FUNCTION).

WhiteNoise answers /static/ before XFrameOptionsMiddleware runs, so without this a static file
(an SVG, an HTML file someone adds) could be framed by another site.
"""

from __future__ import annotations

from django.conf import settings


def add_static_headers(headers, path: str, url: str) -> None:
    headers["X-Frame-Options"] = settings.X_FRAME_OPTIONS
