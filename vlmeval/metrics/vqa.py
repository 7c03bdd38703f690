"""VQAv2 accuracy, as the official evaluator computes it (the EvalAI challenge server's
vqaEval.py in Cloud-CV/VQA-Challenge), rule for rule.

Per question: the prediction is normalised (`normalize_prediction`: punctuation, then number
words to digits, articles dropped, contractions restored). The ten human answers are compared
as they are when all ten agree, and after punctuation processing only (no digit or article
step) when they do not: the evaluator's rule, kept. Accuracy is the mean, over the ten
leave-one-out subsets of nine answers, of min(1, matches / 3), so a question scores 0, 0.3,
0.6, 0.9 or 1.0 (one, two, three or four matching humans give 0.3, 0.6, 0.9, 1.0).

Two reference evaluators exist and differ. The first is GT-Vision-Lab/VQA, linked from
visualqa.org. Its punctuation step is a loop over a list that includes ' and :. Its
per-question-type and per-answer-type breakdowns use the last subset's score instead of the
mean, a bug. EvalAI runs the second, Cloud-CV/VQA-Challenge, which publishes the leaderboard
numbers; that is the one reproduced here. Its `re.sub(..., re.UNICODE)` passes the flag as
`count`, so at most 32 periods are stripped: kept too.
"""

from __future__ import annotations

import re
from typing import Sequence

_P = r"\\;/\"`\[\](){}<>@=+_\-,?!"  # the punctuation the evaluator strips or spaces
_STRIP_BEGIN = re.compile(rf"\A([ {_P}]+)(?=[a-zA-Z0-9 ])")
_STRIP_END = re.compile(rf"(?<=[a-zA-Z0-9 ])([ {_P}]+)\Z")
_DIGIT_COMMA = re.compile(r"(?<=\d)(,)+(?=\d)")
_NEXT_TO_PUNCT = re.compile(rf"(?<=[ {_P}])([{_P}])|([{_P}])(?=[ {_P}])")
_SPACES = re.compile(r"( +)")
_BETWEEN_LETTERS = re.compile(rf"(?<=[a-zA-Z])([{_P}])(?=[a-zA-Z])")
_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")  # sic: "(?!<=" is a lookahead, not a lookbehind
_MAX_PERIODS = int(re.UNICODE)  # the evaluator's flag-as-count: 32

NUMBERS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
           "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = frozenset({"a", "an", "the"})
# Contractions written without their apostrophes -> with them (the evaluator's table).
_CONTRACTIONS = """
aint ain't|arent aren't|cant can't|couldve could've|couldnt couldn't|couldn'tve couldn't've|
couldnt've couldn't've|didnt didn't|doesnt doesn't|dont don't|hadnt hadn't|hadnt've hadn't've|
hadn'tve hadn't've|hasnt hasn't|havent haven't|hed he'd|hed've he'd've|he'dve he'd've|
hes he's|howd how'd|howll how'll|hows how's|Id've I'd've|I'dve I'd've|Im I'm|Ive I've|
isnt isn't|itd it'd|itd've it'd've|it'dve it'd've|itll it'll|let's let's|maam ma'am|
mightnt mightn't|mightnt've mightn't've|mightn'tve mightn't've|mightve might've|
mustnt mustn't|mustve must've|neednt needn't|notve not've|oclock o'clock|oughtnt oughtn't|
ow's'at 'ow's'at|'ows'at 'ow's'at|'ow'sat 'ow's'at|shant shan't|shed've she'd've|
she'dve she'd've|she's she's|shouldve should've|shouldnt shouldn't|shouldnt've shouldn't've|
shouldn'tve shouldn't've|somebody'd somebodyd|somebodyd've somebody'd've|
somebody'dve somebody'd've|somebodyll somebody'll|somebodys somebody's|someoned someone'd|
someoned've someone'd've|someone'dve someone'd've|someonell someone'll|someones someone's|
somethingd something'd|somethingd've something'd've|something'dve something'd've|
somethingll something'll|thats that's|thered there'd|thered've there'd've|
there'dve there'd've|therere there're|theres there's|theyd they'd|theyd've they'd've|
they'dve they'd've|theyll they'll|theyre they're|theyve they've|twas 'twas|wasnt wasn't|
wed've we'd've|we'dve we'd've|weve we've|werent weren't|whatll what'll|whatre what're|
whats what's|whatve what've|whens when's|whered where'd|wheres where's|whereve where've|
whod who'd|whod've who'd've|who'dve who'd've|wholl who'll|whos who's|whove who've|
whyll why'll|whyre why're|whys why's|wont won't|wouldve would've|wouldnt wouldn't|
wouldnt've wouldn't've|wouldn'tve wouldn't've|yall y'all|yall'll y'all'll|y'allll y'all'll|
yall'd've y'all'd've|y'alld've y'all'd've|y'all'dve y'all'd've|youd you'd|youd've you'd've|
you'dve you'd've|youll you'll|youre you're|youve you've
"""
CONTRACTIONS = dict(pair.split() for pair in _CONTRACTIONS.replace("\n", "").split("|"))


def process_punctuation(text: str) -> str:
    text = _STRIP_BEGIN.sub("", text)
    text = _STRIP_END.sub("", text)
    text = _DIGIT_COMMA.sub("", text)
    text = _NEXT_TO_PUNCT.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = _BETWEEN_LETTERS.sub(" ", text)
    text = _BETWEEN_LETTERS.sub("", text)
    return _PERIOD.sub("", text, count=_MAX_PERIODS)


def process_digit_article(text: str) -> str:
    words = [NUMBERS.get(w, w) for w in text.lower().split()]
    return " ".join(CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES)


def normalize_prediction(text: str) -> str:
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(text))


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """The official per-question accuracy of `prediction` against the human `answers` (ten in
    VQAv2; any number >= 2 works the same way). No answers: NaN."""
    if not answers:
        return float("nan")
    predicted = normalize_prediction(prediction)
    if len(set(answers)) > 1:
        answers = [process_punctuation(a) for a in answers]
    matches = sum(a == predicted for a in answers)
    # Leaving out answer i leaves `matches` matches, or one fewer if answer i matched. (The
    # evaluator leaves out by comparing answer records; VQAv2's carry distinct answer_ids, so
    # that removes exactly one, as here.)
    subsets = [min(1.0, (matches - (a == predicted)) / 3) for a in answers]
    return sum(subsets) / len(subsets)


OFFICIAL_ANSWERS = 10
RULES = {"vqav2": "the VQAv2 formula (ten answers)",
         "exact_match": "normalised exact match against any answer (not ten answers)"}


def vqa_score(prediction: str, answers: Sequence[str]) -> tuple[float, str]:
    """(accuracy, rule): the official formula where a question has the ten human answers it
    was made for; otherwise 1.0 when the normalised prediction equals any normalised answer,
    else 0.0 (the formula with one answer would score a perfect answer 0, with three 0.667)."""
    if len(answers) == OFFICIAL_ANSWERS:
        return vqa_accuracy(prediction, answers), "vqav2"
    if not answers:
        return float("nan"), "exact_match"
    predicted = normalize_prediction(prediction)
    return float(any(normalize_prediction(a) == predicted for a in answers)), "exact_match"
