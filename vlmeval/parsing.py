"""Answer parsers: named, versioned policies.

`official` reproduces a benchmark's reference evaluator, quirks included, so numbers match
published ones. `strict` reads only what it can read with confidence and returns `unparsed`
otherwise; unparsed answers are counted and shown, never coerced into yes or no.
"""

from __future__ import annotations

import re
from typing import Sequence

from vlmeval.errors import ConfigError
from vlmeval.records import Parsed

POLICIES = ("official", "strict")
# Bump a version whenever its policy's behaviour changes; results record it.
POLICY_VERSIONS = {"official": "pope-ref-1", "strict": "1"}

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_YES = frozenset({"yes", "yeah", "yep", "yup"})
_NO = frozenset({"no", "nope", "nah"})
_NEGATION = frozenset({"not", "never", "none", "nothing"})


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ConfigError(f"unknown parsing policy {policy!r} (valid: {', '.join(POLICIES)})")
    return policy


def yes_no_official(raw: str) -> Parsed:
    """The POPE reference rule (evaluate.py of the POPE repository).

    Keep the text before the first period, drop commas, split on single spaces; the answer is
    "no" if a token equals "No", "not" or "no", and "yes" otherwise. So "", "NO", "Nope" and
    "There isn't one" all read as "yes", exactly as the reference counts them.
    """
    text = raw.split(".")[0] if "." in raw else raw
    words = text.replace(",", "").split(" ")
    if "No" in words or "not" in words or "no" in words:
        return Parsed.ok("no")
    return Parsed.ok("yes")


def yes_no_strict(raw: str) -> Parsed:
    """Yes or no only when the answer starts with one and nothing later contradicts it.

    The first word must be a yes-word (yes, yeah, yep, yup) or a no-word (no, nope, nah), in any
    case. A yes followed by a no-word, a negation or an n't contraction, or a no followed by a
    yes-word, is unparsed ("yes and no"). Empty or anything else ("There isn't one") is unparsed.
    """
    words = _WORD.findall(raw.lower())
    if not words:
        return Parsed.unparsed()
    first, rest = words[0], words[1:]
    if first in _YES:
        negated = any(w in _NO or w in _NEGATION or w.endswith("n't") for w in rest)
        return Parsed.unparsed() if negated else Parsed.ok("yes")
    if first in _NO:
        return Parsed.unparsed() if any(w in _YES for w in rest) else Parsed.ok("no")
    return Parsed.unparsed()


def yes_no_word(raw: str) -> Parsed:
    """Judge-free reading for benchmarks whose authors have a language model judge free-form
    answers (HallusionBench): "yes" if the answer holds the word yes and not the word no,
    "no" if the reverse, unparsed otherwise (both, neither, empty). Case and punctuation are
    ignored ("Yes, the bar is taller." -> yes). What a judge would have read in an unparsed
    answer is left unread and counted."""
    words = set(_WORD.findall(raw.lower()))
    if ("yes" in words) == ("no" in words):
        return Parsed.unparsed()
    return Parsed.ok("yes" if "yes" in words else "no")


def yes_no_prefix(raw: str) -> Parsed:
    """MME's reference rule (eval_tool/calculation.py): lower-cased, an answer that is "yes" or
    "no" is itself; otherwise "yes" if its first four characters contain "yes", else "no" if
    they contain "no", else neither (unparsed here; wrong there as "other")."""
    text = raw.lower()
    if text in ("yes", "no"):
        return Parsed.ok(text)
    head = text[:4]
    return Parsed.ok("yes") if "yes" in head else Parsed.ok("no") if "no" in head else Parsed.unparsed()


def yes_no_exact(raw: str) -> Parsed:
    """AMBER's reference check: the response is exactly "Yes" or exactly "No" (surrounding
    whitespace aside); anything else ("yes", "Yes.", "Yes, there is") counts for neither."""
    text = raw.strip()
    return Parsed.ok(text.lower()) if text in ("Yes", "No") else Parsed.unparsed()


YES_NO = {"official": yes_no_official, "strict": yes_no_strict}

_LEAD_LETTER = re.compile(r"^\s*(?:option\s+|the answer is\s+|answer:\s*)?\(?([A-Za-z])(?:[).:,]|\s|$)",
                          re.IGNORECASE)


def choice_letter(raw: str, letters: Sequence[str], texts: Sequence[str], policy: str) -> Parsed:
    """The option a multiple-choice answer picks, as its letter.

    strict: the answer starts with one of the letters, alone or followed by punctuation or a
    space ("B", "(B)", "B. a cat", "Option B", "The answer is B").
    official (judge-free, as toolkits read before calling a judge): that, or else exactly one
    of the letters standing alone as a capital ("I think B"), or else exactly one option's text
    within the answer ("It is a cat"); anything else (none, or several) is unparsed."""
    match = _LEAD_LETTER.match(raw)
    if match and match.group(1).upper() in letters:
        return Parsed.ok(match.group(1).upper())
    if check_policy(policy) == "strict":
        return Parsed.unparsed()
    standing = {w for w in re.findall(r"\b[A-Z]\b", raw) if w in letters}
    if len(standing) == 1:
        return Parsed.ok(standing.pop())
    lowered = raw.lower()
    named = [letter for letter, text in zip(letters, texts) if text and text.lower() in lowered]
    return Parsed.ok(named[0]) if len(named) == 1 else Parsed.unparsed()


def parse_yes_no(raw: str, policy: str) -> Parsed:
    return YES_NO[check_policy(policy)](raw)


# Counts above this are not read as counts (unparsed): no benchmark asks for more, and a
# 20-digit "count" must not reach a metric that sizes a table by it.
LARGEST_COUNT = 1000
NUMBER_WORDS = {w: i for i, w in enumerate(
    ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
     "eleven", "twelve"))} | {"no": 0, "none": 0}
_NUMBER = re.compile(r"\d+|[a-z]+")


def _count(digits: str) -> Parsed:
    return Parsed.ok(str(int(digits))) if len(digits) <= 6 and int(digits) <= LARGEST_COUNT \
        else Parsed.unparsed()


def count_official(raw: str) -> Parsed:
    """The first number in the answer, as digits or a number word ("There are two." -> 2;
    "no stars" -> 0). An answer with no number, or a number above LARGEST_COUNT, is unparsed,
    never 0."""
    for token in _NUMBER.findall(raw.lower()):
        if token.isdigit():
            return _count(token)
        if token in NUMBER_WORDS:
            return Parsed.ok(str(NUMBER_WORDS[token]))
    return Parsed.unparsed()


def count_strict(raw: str) -> Parsed:
    """Only an answer that is a number and nothing else ("2", "Two.", " 3 "); "no" and "none"
    are not numbers here."""
    text = raw.strip().rstrip(".!").strip().lower()
    if text.isascii() and text.isdigit():
        return _count(text)
    if text in NUMBER_WORDS and text not in ("no", "none"):
        return Parsed.ok(str(NUMBER_WORDS[text]))
    return Parsed.unparsed()


COUNT = {"official": count_official, "strict": count_strict}


def parse_count(raw: str, policy: str) -> Parsed:
    return COUNT[check_policy(policy)](raw)
