"""People's names: after a cue ("my name is", "I'm", "it's", "Ana here") or as a bare answer."""

import re

from .text import Utterance, words

_STRONG_NAME_CUE = re.compile(
    r"\b(?:my\s+name\s+is|my\s+name's|name's|(?:the\s+)?name\s+is|(?:you\s+can\s+)?call\s+me"
    r"|name\s*:)\s*"
)
_WEAK_NAME_CUE = re.compile(r"\b(?:i'm|i\s+am|im|this\s+is)\s+")
_CONTEXT_NAME_CUE = re.compile(r"\b(?:it's|it\s+is|its)\s+")
_NAME_WORD = re.compile(r" ?([^\W\d_]+(?:['-][^\W\d_]+)*)(\.?)")
_NAME_HERE = re.compile(r"(?<![^\W\d_])([^\W\d_]+(?: [^\W\d_]+)?) here\b")
_VOWEL = re.compile(r"[aeiouyà-ÿ\u0100-\u017f\u1ea0-\u1ef9]")
_CONSONANT_RUN = re.compile(r"[bcdfghjklmnpqrstvwxz]{5,}")
_NAME_PARTICLES = frozenset(
    words("da de del della der den di do dos das du la las le los van von bin bint ibn al el")
)
_MAX_NAME_WORDS = 4  # not counting particles ("María José de la Cruz" has four)
# Words that are never (part of) a name after "I'm" / "this is" or as a bare answer. Words that
# are also common first names (May, June, Will, Grace, Mark...) are deliberately absent.
_NOT_NAMES = frozenset(
    words(
        """
    a an the and or but not no yes yeah yep yup nope nah ok okay sure fine good great cool
    i me my mine you your yours we our us they them it its it's this that these those there here
    is am are was were be been being do does did doing have has had having would shall
    should can could might must to for with without at on in into of off by from as about
    over under up down out than then so too very really just also only still even again
    want wanted need needed like liked looking trying going hoping wondering calling writing
    interested available free busy ready back done sorry afraid happy glad new late early
    book booking schedule scheduling set setup arrange meet meeting meetings call chat sync
    appointment session slot time times date day days week weeks month hour hours minute
    minutes min mins today tomorrow tonight morning afternoon evening night noon midnight
    next last this coming monday tuesday wednesday thursday friday saturday sunday weekend
    january february march july september october november december am pm
    hi hello hey meety help thanks thank please cancel stop never mind forget nothing
    something anything everything what when where who why how which whatever email mail
    address at dot com gmail yes confirm confirmed correct right wrong actually change make
    one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty
    forty fifty sixty ninety half quarter asap urgent someone somebody nobody person human bot
    here's sir madam mr mrs ms dr i'd i'll i've i'm we'd we'll let's anyone everyone
    """
    )
)


def _could_be_name(word: str, *, lenient: bool) -> bool:
    lower = word.lower().rstrip(".")
    if lower in _NOT_NAMES or len(lower) > 30:
        return False
    if not _VOWEL.search(lower) or _CONSONANT_RUN.search(lower):
        return False  # keyboard mash such as "sdfgh"
    # After a weak cue ("I'm"), lower-case "-ing"/"-ed" words are states, not names.
    return lenient or not (word.islower() and (lower.endswith("ing") or lower.endswith("ed")))


def _capitalize(word: str) -> str:
    return re.sub(r"(^|['-])(\w)", lambda m: m[1] + m[2].upper(), word.lower())


def _format_name(words: list[str]) -> str:
    words = [w if len(w) == 2 and w.endswith(".") else w.rstrip(".") for w in words]
    while len(words) > 1 and words[-1].lower() in _NAME_PARTICLES:
        words = words[:-1]
    formatted = []
    for i, word in enumerate(words):
        if word.islower() or word.isupper():
            word = word.lower() if i and word.lower() in _NAME_PARTICLES else _capitalize(word)
        formatted.append(word)
    return " ".join(formatted)


def _name_after(
    u: Utterance, cue: re.Match[str], *, lenient: bool, capitalised: bool = False
) -> str | None:
    """The name right after a cue; `capitalised` takes only words written with a capital
    (particles aside), for a cue as loose as "it's" ("it's Anne-Sophie" but "it's urgent")."""
    words: list[str] = []
    pos = cue.end()
    names = 0
    while names < _MAX_NAME_WORDS:
        m = _NAME_WORD.match(u.text, pos)
        initial = m is not None and len(m[1]) == 1 and m[2] == "." and m[1].isupper()
        if m is None or not (initial or _could_be_name(m[1], lenient=lenient)):
            break
        particle = m[1].lower() in _NAME_PARTICLES
        if capitalised and not (m[1][0].isupper() or (particle and words)):
            break
        names += not particle
        words.append(m[1] + m[2])
        pos = m.end()
        if m[2] and len(m[1]) > 1:
            break  # a full stop after a word ends the sentence; after "J" it is an initial
    if not words:
        return None
    u.claim(cue.start(), pos)
    return _format_name(words)


def extract_name(u: Utterance, *, expecting_name: bool) -> str | None:
    cues = [(_STRONG_NAME_CUE, True, False), (_WEAK_NAME_CUE, expecting_name, False)]
    # "it's Anne-Sophie" names someone even unasked, but only in capitals ("it's urgent").
    cues.append((_CONTEXT_NAME_CUE, True, not expecting_name))
    for pattern, lenient, capitalised in cues:
        for cue in pattern.finditer(u.lower):
            name = _name_after(u, cue, lenient=lenient, capitalised=capitalised)
            if name:
                return name
    for here in _NAME_HERE.finditer(u.text):  # "Ana here"
        said = here[1].split()
        if all(_could_be_name(word, lenient=False) for word in said):
            u.claim_match(here)
            return _format_name(said)
    return None


def bare_name(words: list[str]) -> str | None:
    names = sum(w.lower() not in _NAME_PARTICLES for w in words)
    if (
        1 <= names <= _MAX_NAME_WORDS
        and len(words) <= 2 * _MAX_NAME_WORDS
        and all(_could_be_name(w, lenient=True) for w in words)
    ):
        return _format_name(words)
    return None
