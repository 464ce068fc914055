"""Credentials are read from the environment only (locally, or from Kubernetes Secrets mapped to
environment variables on a cluster); ``redact`` removes their values from any text that is
printed, logged or raised: error messages, the run log, stage failure lines."""

from __future__ import annotations

import os
import re

SECRET_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "KFP_TOKEN",
)
MASK = "***"
MIN_SECRET_LEN = 4  # shorter values would mask ordinary words
_URL_PASSWORD = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):[^@/\s]+@", re.I)


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """The credential values set in ``environ`` (default ``os.environ``), longest first."""
    environ = os.environ if environ is None else environ
    values = {environ.get(name, "") for name in SECRET_ENV}
    return sorted((v for v in values if len(v) >= MIN_SECRET_LEN), key=len, reverse=True)


def redact(text: str, environ: dict[str, str] | None = None) -> str:
    """``text`` with every credential value and every ``scheme://user:PASSWORD@`` masked."""
    for value in secret_values(environ):
        text = text.replace(value, MASK)
    return _URL_PASSWORD.sub(rf"\g<scheme>\g<user>:{MASK}@", text)
