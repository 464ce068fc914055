"""Self-contained HTML pages (jinja2): figures embedded as PNG data URIs, CSS inline, no
external resource; a few lines of script report any image that fails to decode on the console."""

from __future__ import annotations

import base64

from jinja2 import Environment, PackageLoader, StrictUndefined

_ENV = Environment(
    loader=PackageLoader("alseg.reporting", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render(template: str, **context: object) -> str:
    """Render ``templates/<template>`` (``report.html.j2`` or ``sweep.html.j2``)."""
    return _ENV.get_template(template).render(**context)
