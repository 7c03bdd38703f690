"""Text benchmarks through the same adapters, with no image: does the LM keep its text skills?

- text_gen: the text curriculum's questions (vlmeval.data.text: addition, successors,
  opposites, numbers as words; 139 questions), answered by generation and scored by exact
  match.
- text_mc: multiple choice by log-likelihood, the lm-evaluation-harness way: each choice is
  scored as a continuation of the question (sum of its tokens' log-probabilities) and the
  highest wins. Built in: the same questions with three distractors from the skill's answers;
  with --data, local multiple-choice files (JSONL or HF datasets in the question / choices /
  answer shape; see vlmeval.data.jsonl).
"""

from __future__ import annotations

import random
import re
from typing import Any, Mapping, Sequence

import numpy as np

from vlmeval.data import text
from vlmeval.errors import DataError
from vlmeval.records import Parsed, Request, Verdict
from vlmeval.schema import is_answer
from vlmeval.stats import CountTable, safe_ratio
from vlmeval.tasks.base import TASKS, Task, TaskScore

_WORD = re.compile(r"[a-z0-9]+")


def first_word(raw: str, policy: str) -> Parsed:
    """official: the first word or number of the output, lower-cased ("Seven." -> "seven").
    strict: only an output that is a single word or number (an optional final period)."""
    words = _WORD.findall(raw.lower())
    if not words:
        return Parsed.unparsed()
    if policy == "strict" and (len(words) > 1 or raw.strip().lower().rstrip(".") != words[0]):
        return Parsed.unparsed()
    return Parsed.ok(words[0])


def correct_table(records: Sequence[dict[str, Any]], policy: str, columns: dict[str, str],
                  correct_of) -> CountTable:
    """Accuracy per question overall and per group (`meta["group"]`); units are questions.
    columns: metric name -> the verdict score it averages (e.g. accuracy_norm)."""
    groups = sorted({r["meta"]["group"] for r in records})
    width = len(columns) + 1
    counts = np.zeros((len(records), width * (1 + len(groups))))
    for i, r in enumerate(records):
        values = [1.0, *correct_of(r, policy)]
        for block in (0, 1 + groups.index(r["meta"]["group"])):
            counts[i, block * width:(block + 1) * width] = values
    metrics, n_of = {}, {}
    for block, prefix in enumerate(["", *(f"{g}/" for g in groups)]):
        base = block * width
        for k, name in enumerate(columns):
            metrics[prefix + name] = lambda s, b=base, k=k: safe_ratio(s[..., b + 1 + k], s[..., b])
            n_of[prefix + name] = lambda s, b=base: s[..., b]
    return CountTable([r["request_id"] for r in records], counts, metrics, n_of)


@TASKS.register("text_gen")
class TextGenTask(Task):
    """The text curriculum's questions by generation; exact match of the first word, per skill.

    An empty or wordless output is unparsed and wrong. Always answering "yes" scores the one
    question whose answer is yes (the opposite of "no").
    """

    name = "text_gen"
    version = "1"
    headline = "accuracy"

    def requests(self) -> list[Request]:
        return [Request(task=self.name, request_id=f"{skill}/{i}", sample_id=f"{skill}/{i}",
                        prompt=question, image=None, target=answer, max_new_tokens=6,
                        meta={"group": skill})
                for i, (skill, question, answer) in enumerate(text.items())][: self.limit]

    def parse(self, raw: str, policy: str) -> Parsed:
        return first_word(raw, policy)

    def verdict(self, record: dict[str, Any], parsed: Parsed) -> Verdict:
        if parsed.answer is None:
            return Verdict(correct=False, outcome="unparsed")
        correct = parsed.answer == record["target"].lower()
        return Verdict(correct=correct, outcome="right" if correct else "wrong")

    def count_table(self, records: Sequence[dict[str, Any]], policy: str) -> CountTable:
        def correct(r, policy):
            parsed = first_word(r["raw"] or "", policy)
            return [float(parsed.answer == r["target"].lower())]

        return correct_table(records, policy, {"accuracy": "acc"}, correct)

    def score(self, records: Sequence[dict[str, Any]], policy: str, seed: int) -> TaskScore:
        return TaskScore(metrics=self.count_table(records, policy).bootstrap(seed))


def choose(choices: Sequence[str], logprobs: Sequence[float]) -> tuple[int, int]:
    """The choice with the highest log-likelihood, and with the highest log-likelihood per
    character (lm-evaluation-harness's acc and acc_norm). Ties go to the first choice."""
    lp = np.asarray(logprobs, dtype=np.float64)
    norm = lp / np.array([max(1, len(c.encode())) for c in choices])
    return int(np.argmax(lp)), int(np.argmax(norm))


@TASKS.register("text_mc")
class TextMCTask(Task):
    """Multiple choice by log-likelihood of each choice given the question (lm-eval's way).

    Metrics: accuracy (argmax of summed log-probabilities), accuracy_norm (per character),
    chance (the mean of 1 / number of choices), per skill or subject. An adapter that cannot
    score is read from its generated text instead: the output must equal one choice's text (or
    its letter under the official policy); otherwise it is unparsed and wrong. Ties pick the
    first choice. Units for the CIs are questions.
    """

    name = "text_mc"
    version = "1"
    headline = "accuracy"
    reads_data = True
    neutral = frozenset({"chance"})
    companions = ("chance",)
    n_choices = 4

    def requests(self) -> list[Request]:
        if self.data is not None:
            items = []
            for s in self.data_samples():
                if "choices" not in s.fields:
                    raise DataError(f"{self.data}: item {s.id} has no field 'choices'; text_mc "
                                    f"reads multiple-choice rows (question, choices, answer)")
                items.append((s.id, s.fields.get("question_type", "all"), s.fields["question"],
                              list(s.fields["choices"]), s.fields["answer_index"]))
        else:
            rng = random.Random(f"text_mc-{self.seed}")
            items = []
            for i, (skill, question, answer) in enumerate(text.items()):
                distractors = [a for a in text.answer_space(skill) if a != answer]
                choices = [answer, *rng.sample(distractors, self.n_choices - 1)]
                rng.shuffle(choices)
                items.append((f"{skill}/{i}", skill, question, choices, choices.index(answer)))
            items = items[: self.limit]
        return [Request(task=self.name, request_id=rid, sample_id=rid, prompt=question,
                        image=None, target=choices[gold], options=tuple(choices),
                        max_new_tokens=6, meta={"group": group, "answer_index": gold})
                for rid, group, question, choices, gold in items]

    def parse(self, raw: str, policy: str) -> Parsed:
        """Generated text as written (without a final period); read() matches it to a choice."""
        answer = raw.strip().rstrip(".").strip()
        return Parsed.ok(answer) if answer else Parsed.unparsed()

    def read(self, record: Mapping[str, Any], policy: str) -> Parsed:
        """The chosen choice's text: by log-likelihood where the options were scored, else the
        output matched to a choice (its text, or its letter under the official policy);
        anything else is unparsed, and counted so."""
        if not is_answer(record):
            return Parsed(None, "error")
        chosen, _ = self.pick(record, policy)
        return Parsed.unparsed() if chosen is None else Parsed.ok(record["options"][chosen])

    def pick(self, record: Mapping[str, Any], policy: str) -> tuple[int | None, int | None]:
        """(choice by acc, choice by acc_norm), or (None, None) when nothing matches."""
        choices = record["options"]
        if record.get("option_logprobs"):
            return choose(choices, record["option_logprobs"])
        parsed = self.parse(record["raw"] or "", policy)
        if parsed.answer is None:
            return None, None
        lowered = [c.lower() for c in choices]
        letters = [chr(ord("a") + i) for i in range(len(choices))]
        answer = parsed.answer.lower()
        if answer in lowered:
            return lowered.index(answer), lowered.index(answer)
        if policy == "official" and answer in letters:
            return letters.index(answer), letters.index(answer)
        return None, None

    def verdict(self, record: dict[str, Any], parsed: Parsed) -> Verdict:
        if parsed.answer is None:
            return Verdict(correct=False, outcome="unparsed")
        correct = parsed.answer == record["options"][record["meta"]["answer_index"]]
        return Verdict(correct=correct, outcome="right" if correct else "wrong")

    def count_table(self, records: Sequence[dict[str, Any]], policy: str) -> CountTable:
        def correct(r, policy):
            chosen, chosen_norm = self.pick(r, policy)
            gold = r["meta"]["answer_index"]
            return [float(chosen == gold), float(chosen_norm == gold), 1.0 / len(r["options"])]

        return correct_table(records, policy, {"accuracy": "acc", "accuracy_norm": "norm",
                                               "chance": "chance"}, correct)

    def score(self, records: Sequence[dict[str, Any]], policy: str, seed: int) -> TaskScore:
        scored = TaskScore(metrics=self.count_table(records, policy).bootstrap(seed))
        scored["mode"] = ("log-likelihood" if records and all(r.get("option_logprobs") for r in records)
                          else "generated text" if records else None)
        scored["notes"] = [f"choices picked by {scored['mode']}"] if records else []
        return scored
