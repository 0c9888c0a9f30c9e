"""Hide database passwords from everything the tool shows: URLs, settings dicts and free text.

Two layers. Anything shaped like a URL with a password (`scheme://user:PASSWORD@host...`) has
everything between `user:` and the *last* `@` of the URL masked, so a password that was not
URL-encoded (`postgres://u:p@ss:w/rd%@h/db`) is hidden whole. And every password read from the
settings and the tenant configuration is masked wherever it appears, in every escaped form (URL-,
JSON-, repr- and ConfigParser-escaped). Structures are masked before they are JSON-encoded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote

MASK = "***"
_SECRET_KEYS = frozenset({"PASSWORD", "PASSWD", "PASS", "SECRET", "TOKEN"})
_SCHEME_USER = r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/\s]*):"
#: In free text a URL ends at whitespace; its password runs to the last `@` before that.
_URL_IN_TEXT = re.compile(_SCHEME_USER + r"(?P<pw>\S*)@")
#: In JSON-encoded text a URL also ends at an unescaped `"` (so masking never spans two JSON strings).
_URL_IN_JSON = re.compile(_SCHEME_USER + r'(?P<pw>(?:\\.|[^\s"\\])*)@')
#: A value that *is* a URL: the password runs to its last `@`, whatever characters it holds.
_WHOLE_URL = re.compile(r"\A" + _SCHEME_USER + r"(?P<pw>.*)@(?P<rest>[^@]*)\Z", re.DOTALL)


def _mask_match(match: re.Match[str]) -> str:
    return f"{match['scheme']}{match['user']}:{MASK}@"


def mask_url(url: str) -> str:
    """Return `url` with its password (everything from `user:` to the last `@`) replaced by ***."""
    match = _WHOLE_URL.match(url)
    if match is None:
        return _URL_IN_TEXT.sub(_mask_match, url)
    return f"{match['scheme']}{match['user']}:{MASK}@{match['rest']}"


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


def mask_data(value: Any) -> Any:
    """Deep-copy a structure about to be JSON-encoded with every string (keys too) redacted."""
    if isinstance(value, Mapping):
        return {mask_data(k) if isinstance(k, str) else k: mask_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(v) for v in value]
    if isinstance(value, str):
        return REDACTOR(value)
    return value


def collect_secrets(value: Any, found: set[str] | None = None) -> set[str]:
    """Every password found in a settings structure: PASSWORD keys and passwords inside URLs."""
    found = set() if found is None else found
    stack = [value]  # iterative: a document nested thousands deep must not overflow the stack
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            for k, v in item.items():
                if str(k).upper() in _SECRET_KEYS and isinstance(v, str) and v:
                    found.add(v)
                else:
                    stack.append(v)
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, str) and "://" in item:
            whole = _WHOLE_URL.match(item)
            matches = [whole] if whole else list(_URL_IN_TEXT.finditer(item))
            found.update(m["pw"] for m in matches if m["pw"])
    return found


def _escaped_forms(secret: str) -> set[str]:
    """The ways a secret can be written out: raw, URL-, JSON-, repr- and ConfigParser-escaped."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), unquote(secret), secret.replace("%", "%%")}
    for form in list(forms):
        forms.add(json.dumps(form)[1:-1])
        forms.add(json.dumps(form, ensure_ascii=False)[1:-1])
        forms.add(repr(form)[1:-1])
        forms.add(form.encode("unicode_escape").decode("ascii"))
    return forms


class Redactor:
    """Replaces every known secret (and its escaped forms) and every URL's password in text with ***."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Learn more secrets; short ones (under 3 characters) are too common to replace safely."""
        new = {form for secret in secrets if len(secret) >= 3 for form in _escaped_forms(secret)}
        if new <= self._secrets:
            return
        self._secrets |= new
        variants = sorted((s for s in self._secrets if len(s) >= 3), key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, variants))) if variants else None

    def _known(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern is not None else text

    def __call__(self, text: str) -> str:
        """Return human-readable `text` with known secrets and URLs' passwords masked."""
        text = self._known(text)
        # no `://`, no URL: and the URL pattern, tried at each letter of a long word, is quadratic in it
        return _URL_IN_TEXT.sub(_mask_match, text) if "://" in text else text

    def stream(self, text: str) -> str:
        """Like calling it, for text that may be JSON: a URL's password never spans two JSON strings."""
        text = self._known(text)
        return _URL_IN_JSON.sub(_mask_match, text) if "://" in text else text


#: Process-wide redactor: the configuration loader teaches it every password it reads.
REDACTOR = Redactor()
