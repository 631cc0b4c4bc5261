"""The utterance being understood, and spelled-out numbers.

Extractors run one after another over an `Utterance`. Each one *claims* the characters it used:
they are masked with `|` (same length, so spans stay aligned between the original text and its
lower-case copy), and later extractors can neither read nor straddle them. That ordering is how
"5 March" never becomes a time and "at 3" never becomes a date.
"""

import re

CLAIMED = "|"


def words(text: str) -> list[str]:
    """The whitespace-separated words of a word list written as prose."""
    return text.split()


_UNITS = words(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
NUMBER_WORDS: dict[str, int] = {word: value for value, word in enumerate(_UNITS)} | _TENS
NUMBER_WORDS |= {"a": 1, "an": 1, "oh": 0}

_ORDINAL_UNITS = words(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
)
ORDINAL_WORDS: dict[str, int] = {word: n for n, word in enumerate(_ORDINAL_UNITS, start=1)}
ORDINAL_WORDS |= {"twentieth": 20, "thirtieth": 30}
ORDINAL_WORDS |= {f"twenty-{w}": 20 + n for w, n in list(ORDINAL_WORDS.items())[:9]}
ORDINAL_WORDS |= {"thirty-first": 31}


def _alternation(choices: list[str]) -> str:
    # Longest first, so "fourteen" is not read as "four" + "teen".
    longest_first = sorted(choices, key=len, reverse=True)
    return "|".join(re.escape(w).replace("\\-", "[\\s-]") for w in longest_first)


_UNIT_WORDS = _alternation(_UNITS[1:10])
_TEENS_AND_UNITS = _alternation(_UNITS)
_TENS_WORDS = _alternation(list(_TENS))
# A cardinal number in words (0-99): "thirty", "forty-five", "twenty five"; then words or digits.
NUMBER_IN_WORDS = rf"(?:(?:{_TENS_WORDS})(?:[\s-](?:{_UNIT_WORDS}))?|{_TEENS_AND_UNITS})"
NUMBER = rf"(?:\d{{1,3}}|{NUMBER_IN_WORDS})"
ORDINAL = _alternation(list(ORDINAL_WORDS))

_WORD_SPLIT = re.compile(r"[\s-]+")


def parse_number(token: str) -> int:
    """The value of a number written in digits or words ("45", "forty-five", "an")."""
    token = token.strip()
    if token.isdecimal():
        return int(token)
    return sum(NUMBER_WORDS[part] for part in _WORD_SPLIT.split(token))


def parse_ordinal(token: str) -> int:
    """The value of an ordinal word ("twelfth", "twenty first")."""
    return ORDINAL_WORDS[_WORD_SPLIT.sub("-", token.strip())]


_SPACES = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u2013": "-", "\u2014": "-"})

# Chat shorthand and common typos of the words the dialog needs, spelled out before anything
# reads the text ("tmrw" -> "tomorrow", "nxt" -> "next", "mtg" -> "meeting").
_SHORTHAND = {
    "nxt": "next", "mtg": "meeting", "mtng": "meeting", "pls": "please", "plz": "please",
    "thx": "thanks", "thnx": "thanks", "wk": "week", "wks": "weeks", "2day": "today",
    "arvo": "afternoon", "u": "you", "r": "are",
    "wensday": "wednesday", "wendsday": "wednesday", "wednsday": "wednesday",
    "wedensday": "wednesday", "wednesay": "wednesday", "wendesday": "wednesday",
    "wedesday": "wednesday", "thursady": "thursday", "thrusday": "thursday",
    "thursay": "thursday", "thurday": "thursday", "thirsday": "thursday", "tuseday": "tuesday",
    "teusday": "tuesday", "tusday": "tuesday", "tuesdy": "tuesday", "tueday": "tuesday",
    "firday": "friday", "frday": "friday", "fridya": "friday", "mondy": "monday",
    "monady": "monday",
}  # fmt: skip
_TOMORROW_TYPO = r"t[ou]?m{1,2}o?r{1,3}o{0,2}w{1,2}|tmr|tomor{1,2}o|2mor{1,2}o?w?"
_SHORT_WORD = re.compile(
    r"(?<![\w@.'/-])(?:(?P<tomorrow>"
    + _TOMORROW_TYPO
    + r")|"
    + "|".join(sorted(_SHORTHAND, key=len, reverse=True))
    + r")(?![\w@'/-]|\.\w)",
    re.IGNORECASE,
)
# "bob(at)example(dot)com", "bob [at] example [dot] com", "meet @ 3".
_OBFUSCATED = re.compile(r"\s*[(\[{]\s*(at|dot)\s*[)\]}]\s*", re.IGNORECASE)
_LONE_AT = re.compile(r"(?<=\s)@(?=\s)")


def _spell_out(m: re.Match[str]) -> str:
    said = m.group()
    if m["tomorrow"]:
        return "tomorrow" if said.lower() != "tomorrow" else said
    if said in ("U", "R"):  # an initial, not "you" / "are"
        return said
    return _SHORTHAND[said.lower()]


def normalise(text: str) -> str:
    """The text with shorthand spelled out, obfuscated e-mail symbols restored, spaces folded."""
    text = _SPACES.sub(" ", text.translate(_QUOTES)).strip()
    if "(" in text or "[" in text or "{" in text:
        text = _OBFUSCATED.sub(lambda m: "@" if m[1].lower() == "at" else ".", text)
    if " @ " in text:
        text = _LONE_AT.sub("at", text)
    lower = text.lower()
    # Cheap tests first: most texts have no shorthand and skip the regex.
    if not _SHORTHAND_WORDS.isdisjoint(lower.translate(_PUNCTUATION).split()) or any(
        start in lower for start in ("tm", "2m", "tom", "tum")
    ):
        text = _SHORT_WORD.sub(_spell_out, text)
    return text


_SHORTHAND_WORDS = frozenset(_SHORTHAND)
_PUNCTUATION = str.maketrans(dict.fromkeys('.,!?;:()"', " "))


class Utterance:
    """The user's text while it is being understood: extractors claim the spans they use."""

    __slots__ = ("text", "lower")

    def __init__(self, text: str) -> None:
        text = normalise(text)
        lower = text.lower()
        # A few characters change length when lower-cased; spans must stay aligned.
        self.text = text if len(lower) == len(text) else lower
        self.lower = lower

    def claim(self, start: int, end: int) -> None:
        """Mask `[start, end)` so no later extractor reads it."""
        mask = CLAIMED * (end - start)
        self.text = self.text[:start] + mask + self.text[end:]
        self.lower = self.lower[:start] + mask + self.lower[end:]

    def claim_match(self, match: re.Match[str]) -> None:
        """Mask the whole span of a regex match."""
        self.claim(match.start(), match.end())

    def unclaimed_words(self) -> list[str]:
        """The lower-case words nobody claimed, in order."""
        return _WORDS.findall(self.lower)


_WORDS = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
