"""Hide database passwords from everything the tool shows: URLs, settings dicts and free text."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

MASK = "***"
_SECRET_KEYS = frozenset({"PASSWORD", "PASSWD", "PASS", "SECRET", "TOKEN"})
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@")


def mask_url(url: str) -> str:
    """Return `url` with the password part of its netloc replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def mask_settings(value: Any) -> Any:
    """Deep-copy a settings structure with every password value masked and URLs cleaned."""
    if isinstance(value, Mapping):
        return {
            k: (MASK if str(k).upper() in _SECRET_KEYS and v else mask_settings(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(mask_settings(v) for v in value)
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return value


def collect_secrets(value: Any, found: set[str] | None = None) -> set[str]:
    """Every password found in a settings structure: PASSWORD keys and passwords inside URLs."""
    found = set() if found is None else found
    if isinstance(value, Mapping):
        for k, v in value.items():
            if str(k).upper() in _SECRET_KEYS and isinstance(v, str) and v:
                found.add(v)
            else:
                collect_secrets(v, found)
    elif isinstance(value, list | tuple):
        for v in value:
            collect_secrets(v, found)
    elif isinstance(value, str) and "://" in value:
        for match in _URL_PASSWORD.finditer(value):
            if match["pw"]:
                found.add(match["pw"])
    return found


class Redactor:
    """Replaces every known secret (and its URL-encoded forms) in text with ***."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Learn more secrets; short ones (under 3 characters) are too common to replace safely."""
        from urllib.parse import unquote

        for secret in secrets:
            if len(secret) < 3:
                continue
            self._secrets.update({secret, quote(secret, safe=""), quote_plus(secret), unquote(secret)})
        variants = sorted((s for s in self._secrets if len(s) >= 3), key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, variants))) if variants else None

    def __call__(self, text: str) -> str:
        """Return `text` with URLs' passwords and every known secret masked."""
        text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return text


#: Process-wide redactor: the configuration loader teaches it every password it reads.
REDACTOR = Redactor()
