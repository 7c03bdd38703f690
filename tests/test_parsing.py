import pytest

from vlmeval.parsing import parse_yes_no

# (raw model output, official POPE reference reading, strict reading); None = unparsed.
TABLE = [
    ("Yes.", "yes", "yes"),
    ("yes", "yes", "yes"),
    ("No", "no", "no"),
    ("No.", "no", "no"),
    ("no, there is not.", "no", "no"),
    ("NO", "yes", "no"),                # the reference only knows "No", "no", "not"
    ("Nope", "yes", "no"),
    ("There isn't one", "yes", None),   # "isn't" is not the token "not"
    ("", "yes", None),
    ("yes and no", "no", None),
    ("Yes, there is a star.", "yes", "yes"),
    ("Yes, but it is not red.", "no", None),
    ("There is no star. Yes.", "no", None),
    ("There is a star. No wait", "yes", None),  # reference keeps the first sentence only
    ("Yeah", "yes", "yes"),
    ("The answer is yes", "yes", None),
    ("No,there is none", "yes", "no"),  # reference splits on single spaces after removing commas
    ("yes\nno", "yes", None),
    ("Not at all", "yes", None),
]


@pytest.mark.parametrize("raw,official,strict", TABLE)
def test_answer_table(raw, official, strict):
    assert parse_yes_no(raw, "official").answer == official
    assert parse_yes_no(raw, "official").status == "ok"  # the reference reads everything
    got = parse_yes_no(raw, "strict")
    assert got.answer == strict
    assert got.status == ("ok" if strict else "unparsed")


def test_unknown_policy_names_the_valid_ones():
    with pytest.raises(ValueError, match="official, strict"):
        parse_yes_no("yes", "lenient")
