"""Everyday forms: shorthand, calendar phrases, 24-hour and spelled times, ranges, names, e-mail.

The reading rules are checked one form at a time here; the accuracy targets over the everyday
corpus (tests/data/meetings_nlu_everyday_*.yaml) are checked at the end with the same code that
`make nlu-corpus` prints (bench/nlu_corpus.py).
"""

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.meetings.nlu import Understanding, understand

# Wednesday 2026-03-04 10:00 UTC; April 2026 starts on a Wednesday.
NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
ROOT = Path(__file__).parents[3]


def read(text: str, **hints) -> Understanding:
    """Understand `text` on the fixed clock, in UTC."""
    return understand(text, now=NOW, timezone="UTC", **hints)


def slots(text: str, **hints) -> dict:
    """The slots read from `text`."""
    return dict(read(text, **hints).slots)


# --- the misreads reported in the issue ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14h30", {"time": "14:30"}),
        ("3/4 of an hour", {"duration_minutes": 45}),
        ("a week from Friday", {"date": "2026-03-13"}),
        ("the first Monday of April", {"date": "2026-04-06"}),
        ("a fortnight from today", {"date": "2026-03-18"}),
        ("2-3:30pm", {"time": "14:00", "duration_minutes": 90}),
        ("at 1400", {"time": "14:00"}),
        ("10:00-10:45", {"time": "10:00", "duration_minutes": 45}),
        ("nxt friday", {"date": "2026-03-13"}),
        ("ten thirty in the morning", {"time": "10:30"}),
        ("it's Anne-Sophie van der Berg", {"full_name": "Anne-Sophie van der Berg"}),
        ("anna(at)example(dot)org", {"email": "anna@example.org"}),
    ],
)
def test_the_reported_misreads_are_read_right(text: str, expected: dict) -> None:
    """Each form from the issue gives exactly the intended slots, nothing more."""
    assert slots(text) == expected


# --- shorthand ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tmrw at 2", {"date": "2026-03-05", "time": "14:00"}),
        ("tomorow", {"date": "2026-03-05"}),
        ("2moro 10am", {"date": "2026-03-05", "time": "10:00"}),
        ("nxt tues", {"date": "2026-03-10"}),
        ("30 mins pls", {"duration_minutes": 30}),
        ("1 hr", {"duration_minutes": 60}),
        ("thrusday at 11", {"date": "2026-03-05", "time": "11:00"}),
    ],
)
def test_chat_shorthand_and_typos(text: str, expected: dict) -> None:
    """'tmrw', 'nxt', 'pls', 'hr', misspelled weekdays read like the words they stand for."""
    assert slots(text) == expected


def test_mtg_and_u_are_words_of_a_request() -> None:
    """'can u book a mtg' asks for a meeting; a capital 'U.' stays an initial."""
    assert read("can u book a mtg").intent == "schedule_meeting"
    assert read("mtg pls").intent == "schedule_meeting"
    assert slots("my name is Anna U. Lee") == {"full_name": "Anna U. Lee"}


# --- dates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a week from tomorrow", "2026-03-12"),
        ("two weeks from Monday", "2026-03-23"),
        ("a week on Monday", "2026-03-16"),
        ("Tuesday week", "2026-03-17"),
        ("in a fortnight", "2026-03-18"),
        ("the last Monday of April", "2026-04-27"),
        ("the second Tuesday of April", "2026-04-14"),
        ("first Wednesday of next month", "2026-04-01"),
        ("end of next week", "2026-03-13"),
        ("end of the week", "2026-03-06"),
        ("start of next week", "2026-03-09"),
        ("Monday the 16th", "2026-03-16"),
        ("Thu 19 March", "2026-03-19"),
        ("19/3", "2026-03-19"),
        ("3/19", "2026-03-19"),
    ],
)
def test_relative_and_calendar_dates(text: str, expected: str) -> None:
    """Shifts, nth weekdays, week edges, weekday + day of month, unambiguous numeric dates."""
    assert slots(text) == {"date": expected}


def test_a_first_weekday_of_a_month_that_has_passed_is_next_years() -> None:
    """On 2026-03-04 the first Monday of March (the 2nd) is past: 2027-03-01 is meant."""
    assert slots("the first Monday of March") == {"date": "2027-03-01"}


@pytest.mark.parametrize("text", ["Monday the 17th", "Thu 20 March", "Friday the 12th"])
def test_a_weekday_that_disagrees_with_the_date_gives_no_date(text: str) -> None:
    """The 17th is a Tuesday: neither reading is trusted, so the date stays open."""
    assert "date" not in slots(text)


def test_a_weekday_settles_an_ambiguous_numeric_date() -> None:
    """'Mon 6/4' is April 6 (a Monday), not June 4, whatever the configured order."""
    assert slots("Mon 6/4") == {"date": "2026-04-06"}
    assert read("Mon 6/4").date_alternative is None


@pytest.mark.parametrize(
    ("text", "day_first", "date", "alternative"),
    [
        ("5/3", False, "2026-05-03", "2026-03-05"),
        ("5/3", True, "2026-03-05", "2026-05-03"),
        ("19/3", False, "2026-03-19", None),
        ("7/7", True, "2026-07-07", None),
    ],
)
def test_an_ambiguous_numeric_date_carries_its_other_reading(
    text: str, day_first: bool, date: str, alternative: str | None
) -> None:
    """The configured order fills the slot; the other reading is there for the dialog to ask."""
    understood = read(text, day_first=day_first)
    assert understood.slots["date"] == date
    other = understood.date_alternative
    assert (other.isoformat() if other else None) == alternative


# --- times and ranges --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("at 0930", "09:30"),
        ("1400 hrs", "14:00"),
        ("at 9h45", "09:45"),
        ("17h00", "17:00"),
        ("14.30", "14:30"),
        ("twenty to five", "16:40"),
        ("ten to twelve", "11:50"),
        ("a quarter past three in the afternoon", "15:15"),
        ("two forty-five", "14:45"),
        ("3ish", "15:00"),
        ("about 2pm", "14:00"),
        ("10:30ish", "10:30"),
    ],
)
def test_24_hour_spelled_and_approximate_times(text: str, expected: str) -> None:
    """24-hour forms, spelled-out times and 'ish' give one clock time and no length."""
    assert slots(text) == {"time": expected}


def test_a_24_hour_time_is_never_a_length_but_a_short_one_still_is() -> None:
    """'14h30' is half past two; '1h30' and 'for 2h' are lengths."""
    assert slots("14h30") == {"time": "14:30"}
    assert slots("1h30") == {"duration_minutes": 90}
    assert slots("for 2h") == {"duration_minutes": 120}


@pytest.mark.parametrize(
    ("text", "start", "minutes"),
    [
        ("from 3 to 4pm", "15:00", 60),
        ("between 2 and 3", "14:00", 60),
        ("from 11 to 1pm", "11:00", 120),
        ("9-9:30am", "09:00", 30),
        ("from 1400 to 1500", "14:00", 60),
        ("between two and three", "14:00", 60),
    ],
)
def test_ranges_give_a_start_and_a_length(text: str, start: str, minutes: int) -> None:
    """The end's am/pm places the start; the length is the difference."""
    assert slots(text) == {"time": start, "duration_minutes": minutes}


def test_a_range_whose_start_cannot_be_placed_keeps_both_starts() -> None:
    """'from 7 to 8' may be morning or evening: both starts, one length."""
    assert slots("from 7 to 8") == {"time": ["07:00", "19:00"], "duration_minutes": 60}


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("1/2 hour", 30),
        ("1 1/2 hours", 90),
        ("1.5 hours", 90),
        ("an hour and a quarter", 75),
        ("an hour and 15 minutes", 75),
        ("two and a half hours", 150),
        ("hour and a half", 90),
        ("3 quarters of an hour", 45),
    ],
)
def test_fractions_and_decimals_of_hours(text: str, minutes: int) -> None:
    """Fractions, decimals and 'and a quarter' give one length and never a date."""
    assert slots(text) == {"duration_minutes": minutes}


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("an hour or two", (60, 120)),
        ("30-45 mins", (30, 45)),
        ("between 1 and 2 hours", (60, 120)),
        ("half an hour or an hour", (30, 60)),
    ],
)
def test_a_range_of_lengths_is_a_choice_not_a_length(text: str, options: tuple) -> None:
    """No length is filled; the choices are there for the dialog to ask about."""
    understood = read(text)
    assert "duration_minutes" not in understood.slots
    assert "time" not in understood.slots
    assert understood.duration_options == options
    assert understood.has_values


# --- names and e-mail --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("My name is María José de la Cruz", "María José de la Cruz"),
        ("this is Fatima bint Ali", "Fatima bint Ali"),
        ("Name: Nguyễn Thị Minh", "Nguyễn Thị Minh"),
        ("It's Pierre-Yves Le Gall", "Pierre-Yves Le Gall"),
        ("I'm Will Turner", "Will Turner"),
    ],
)
def test_names_with_particles_hyphens_and_diacritics(text: str, name: str) -> None:
    """Particles stay lower-case unless written otherwise; up to four names around them."""
    assert slots(text) == {"full_name": name}


@pytest.mark.parametrize("text", ["it's urgent", "it's fine", "It's me"])
def test_its_names_nobody_unless_a_capitalised_name_follows(text: str) -> None:
    """Unasked, 'it's' only introduces a name written with a capital."""
    assert "full_name" not in slots(text)


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("anna [at] example [dot] org", "anna@example.org"),
        ("sam{at}example{dot}net", "sam@example.net"),
        ("john (dot) doe (at) gmail (dot) com", "john.doe@gmail.com"),
        ("JOHN.DOE@GMAIL.COM", "john.doe@gmail.com"),
        ("li_na AT corp DOT cn", "li_na@corp.cn"),
    ],
)
def test_obfuscated_and_upper_case_addresses(text: str, email: str) -> None:
    """(at), [at], {at}, ' at ' and (dot) are restored; addresses come out in lower case."""
    assert slots(text) == {"email": email}


def test_a_lone_at_sign_is_the_word_at() -> None:
    """'mtg @ 3pm tmrw' is a time, not half an e-mail address."""
    assert slots("mtg @ 3pm tmrw") == {"date": "2026-03-05", "time": "15:00"}


# --- the everyday corpus -----------------------------------------------------------------------


def _corpus_module():
    spec = importlib.util.spec_from_file_location("nlu_corpus", ROOT / "bench" / "nlu_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_everyday_corpus_is_large_and_split() -> None:
    """At least 400 labelled utterances, both parts substantial."""
    corpus = _corpus_module()
    sizes = {name: len(corpus.load(path)) for name, path in corpus.PARTS.items()}
    assert sum(sizes.values()) >= 400
    assert min(sizes.values()) >= 150


def test_everyday_corpus_meets_the_precision_and_accuracy_targets() -> None:
    """Held-out fully correct >= 97%; every slot's precision >= 99.5% on both parts."""
    corpus = _corpus_module()
    for name, path in corpus.PARTS.items():
        result = corpus.score(corpus.load(path))
        print("\n" + corpus.report(name, result))
        for slot in ("full_name", "date", "time", "duration_minutes", "email", "confirmation"):
            assert result.precision(slot) >= corpus.TARGET_PRECISION, (name, slot)
        if name == "held_out":
            assert result.fully_correct_rate >= corpus.TARGET_FULLY_CORRECT
