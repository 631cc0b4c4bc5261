"""E-mail addresses, written ("ana@example.com") or spoken ("ana dot lima at example dot com").

Addresses come out in lower case.
"""

import re

from .text import Utterance

_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{}~-]+"
_DOMAIN = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
_EMAIL = re.compile(rf"(?<![\w.+'-]){_ATOM}(?:\.{_ATOM})*@{_DOMAIN}(?![\w-])", re.IGNORECASE)
_VALID_EMAIL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_DOMAIN}")
_SPOKEN_SYMBOLS = {
    "dot": ".",
    "period": ".",
    "point": ".",
    "underscore": "_",
    "dash": "-",
    "hyphen": "-",
    "minus": "-",
    "plus": "+",
}
_SPOKEN_SEPARATOR = r"\s+(?:dot|period|point|underscore|dash|hyphen|minus|plus)\s+"
_SPOKEN_EMAIL = re.compile(
    rf"\b(?P<local>[a-z0-9][\w.+-]*(?:{_SPOKEN_SEPARATOR}[a-z0-9][\w.+-]*)*)"
    r"\s+(?:at|@)\s+"
    r"(?P<domain>[a-z0-9][a-z0-9-]*(?:(?:\s+dot\s+|\.)[a-z0-9][a-z0-9-]*)+)\b"
)
_SPOKEN_WORD = re.compile(r"\s+(dot|period|point|underscore|dash|hyphen|minus|plus)\s+")


def extract_email(u: Utterance) -> str | None:
    written = _EMAIL.search(u.text)
    if written is not None:
        u.claim_match(written)
        return written.group().lower()
    for spoken in _SPOKEN_EMAIL.finditer(u.lower):
        local = _SPOKEN_WORD.sub(lambda m: _SPOKEN_SYMBOLS[m[1]], spoken["local"])
        domain = _SPOKEN_WORD.sub(".", spoken["domain"])
        address = f"{local}@{domain}"
        if _VALID_EMAIL.fullmatch(address):
            u.claim_match(spoken)
            return address.lower()
    return None
