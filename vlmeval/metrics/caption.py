"""Caption metrics as the COCO caption evaluator computes them: pycocoevalcap's scorer classes.

BLEU-1..4 (corpus level, 'closest' reference length), ROUGE-L, CIDEr-D and METEOR come from
pycocoevalcap itself; this module only tokenises, keeps per-image statistics for the bootstrap
and says which tokeniser ran. METEOR runs pycocoevalcap's meteor-1.5.jar, so it needs Java:
without it (or when it fails) METEOR is left out and the results say why; they also say when
the install lacks METEOR's paraphrase table (meteor/data/paraphrase-en.gz), with which the COCO
evaluator's figures were made.

Tokenisation: the evaluator runs Stanford's PTBTokenizer (Java, the jar ships with
pycocoevalcap), lower-cases and drops punctuation tokens. Where Java is missing or fails, a
pure-Python tokenisation stands in (`python_tokenize`): lower-case, PTB-style splits ("can't"
-> "ca n't", "it's" -> "it 's", punctuation split off, hyphenated words kept, brackets written
"-lrb-" as the Java tokens are), then the same punctuation list removed. It agrees with the Java tokenizer on plain captions; results record
which one ran, so two runs are comparable only when they name the same tokenizer.

CIDEr-D's document frequencies are computed over the evaluated set (as pycocoevalcap does), so
its value depends on which images are scored, and the bootstrap keeps them fixed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from typing import Iterator, Mapping, Sequence

import numpy as np
from pycocoevalcap.bleu.bleu_scorer import BleuScorer
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PUNCTUATIONS, PTBTokenizer

Captions = Mapping[str, Sequence[str]]  # image id -> captions
BLEU_N = 4
# Per-image BLEU statistics: test length, closest reference length, then guessed and correct
# n-gram counts for n = 1..4 (what BleuScorer sums over the corpus).
TESTLEN, REFLEN, GUESS, CORRECT = 0, 1, 2, 2 + BLEU_N
BLEU_WIDTH = 2 + 2 * BLEU_N
TOKENIZER_ENV = "VLMEVAL_CAPTION_TOKENIZER"  # "python" forces the pure-Python tokenisation

_PTB = re.compile(r"""
    \w+(?=n't\b) | n't\b            # can't -> ca n't, don't -> do n't
  | '(?:s|re|ve|ll|d|m)\b           # it's -> it 's
  | \d+(?:[.,]\d+)+                 # 3.5, 1,000
  | \w+(?:-\w+)*                    # words, hyphenated words
  | \.\.\.|--|``|''|[^\w\s]         # punctuation, one token each
""", re.VERBOSE)
# PTB writes brackets as -LRB- etc.; after -lowerCase they no longer match the evaluator's
# punctuation list, so "-lrb-" stays in the official tokens (kept). Quotes become `` and ''.
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-",
             '"': "''"}
_DROP = frozenset(PUNCTUATIONS)


def python_tokenize(caption: str) -> str:
    tokens = (_BRACKETS.get(t, t) for t in _PTB.findall(caption.lower().replace("\n", " ")))
    return " ".join(t for t in tokens if t not in _DROP)


def no_java() -> str | None:
    """Why the Java tools (PTB tokenizer, METEOR) will not run here, or None if they may."""
    if os.environ.get(TOKENIZER_ENV, "").lower() == "python":
        return f"{TOKENIZER_ENV}=python"
    return "java not found" if shutil.which("java") is None else None


def tokenize(captions: Captions) -> tuple[dict[str, list[str]], str]:
    """Tokenised captions and the tokenizer that ran ("ptb-java" or "python: <why>")."""
    why = no_java()
    if why is None:
        try:
            return _java_tokenize(captions), "ptb-java"
        except Exception as e:  # noqa: BLE001 - any Java failure falls back, and says why
            why = f"java failed ({type(e).__name__}: {e})"
    return {k: [python_tokenize(c) for c in v] for k, v in captions.items()}, f"python: {why}"


def _java_tokenize(captions: Captions) -> dict[str, list[str]]:
    counts = {k: len(v) for k, v in captions.items()}
    with tempfile.TemporaryFile() as log, _stderr_to(log):  # Java's progress line stays quiet
        out = PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})
        log.seek(0)
        message = log.read().decode(errors="replace").strip()
    if {k: len(out.get(k, [])) for k in counts} != counts:
        raise RuntimeError(f"the Java tokenizer returned a different number of lines ({message[-200:]})")
    return out


@contextlib.contextmanager
def _stderr_to(file) -> Iterator[None]:
    """Point file descriptor 2 (inherited by subprocesses) at `file` for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def meteor_scores(gts: Captions, res: Captions) -> tuple[float, list[float], str] | str:
    """pycocoevalcap's METEOR (corpus value, per-image values, what ran), or why it did not run."""
    why = no_java()
    if why is not None:
        return f"not computed ({why}; METEOR runs pycocoevalcap's meteor-1.5.jar)"
    from pycocoevalcap.meteor import meteor

    paraphrases = os.path.join(os.path.dirname(meteor.__file__), "data", "paraphrase-en.gz")
    what = ("meteor-1.5 (pycocoevalcap)" if os.path.isfile(paraphrases) else
            "meteor-1.5 (pycocoevalcap) without its paraphrase table (meteor/data/"
            "paraphrase-en.gz is not in this install): values may differ from the COCO server's")
    scorer = None
    try:
        with tempfile.TemporaryFile() as log, _stderr_to(log):
            scorer = meteor.Meteor()
            corpus, per_image = scorer.compute_score(dict(gts), dict(res))
    except Exception as e:  # noqa: BLE001 - a Java failure leaves METEOR out, and says why
        return f"not computed (METEOR failed: {type(e).__name__}: {e})"
    finally:
        if scorer is not None:
            close_meteor(scorer)
    return float(corpus), [float(v) for v in per_image], what


def close_meteor(scorer) -> None:
    """Stop a pycocoevalcap Meteor's Java process and close its pipes."""
    process = scorer.meteor_p
    process.kill()
    process.wait()
    for pipe in (process.stdin, process.stdout, process.stderr):
        pipe.close()


def caption_scores(refs: Captions, hyps: Mapping[str, str]) -> tuple[np.ndarray, dict]:
    """Per-image statistics (U, BLEU_WIDTH + 3: BLEU stats, ROUGE-L, CIDEr-D, METEOR (NaN when
    it did not run)) in the order of `refs`, and the official corpus values from pycocoevalcap
    with the tokenizer's and METEOR's names."""
    ids = list(refs)
    tokens, tokenizer = tokenize({**{f"r{k}": refs[k] for k in ids},
                                  **{f"h{k}": [hyps[k]] for k in ids}})
    gts = {k: tokens[f"r{k}"] for k in ids}
    res = {k: tokens[f"h{k}"] for k in ids}
    if not ids:
        return np.zeros((0, BLEU_WIDTH + 3)), {"tokenizer": tokenizer}
    bleu = BleuScorer(n=BLEU_N)
    for k in ids:
        bleu += (res[k][0], gts[k])
    corpus_bleu, _ = bleu.compute_score(option="closest")
    rouge, rouge_per = Rouge().compute_score(gts, res)
    cider, cider_per = Cider().compute_score(gts, res)
    stats = np.zeros((len(ids), BLEU_WIDTH + 3))
    for i, comps in enumerate(bleu.ctest):  # per image, in insertion order
        stats[i, TESTLEN] = comps["testlen"]
        stats[i, REFLEN] = bleu._single_reflen(comps["reflen"], "closest", comps["testlen"])
        stats[i, GUESS:GUESS + BLEU_N] = comps["guess"]
        stats[i, CORRECT:CORRECT + BLEU_N] = comps["correct"]
    stats[:, BLEU_WIDTH] = rouge_per
    stats[:, BLEU_WIDTH + 1] = cider_per
    official = {f"bleu_{n + 1}": float(corpus_bleu[n]) for n in range(BLEU_N)}
    official.update(rouge_l=float(rouge), cider_d=float(cider), tokenizer=tokenizer)
    meteor = meteor_scores(gts, res)
    if isinstance(meteor, str):
        stats[:, BLEU_WIDTH + 2] = np.nan
        official["meteor_scorer"] = meteor
    else:
        official["meteor"], stats[:, BLEU_WIDTH + 2], official["meteor_scorer"] = meteor
    return stats, official


def bleu_from_sums(s: np.ndarray, n: int) -> np.ndarray:
    """Corpus BLEU-n from summed per-image statistics (..., BLEU_WIDTH): BleuScorer's formula,
    vectorised so bootstrap resamples go through it."""
    tiny, small = 1e-15, 1e-9  # BleuScorer's constants
    log_p = sum(np.log((s[..., CORRECT + k] + tiny) / (s[..., GUESS + k] + small))
                for k in range(n))
    score = np.exp(log_p / n)
    ratio = (s[..., TESTLEN] + tiny) / (s[..., REFLEN] + small)
    with np.errstate(divide="ignore", over="ignore"):
        penalty = np.where(ratio < 1, np.exp(1 - 1 / ratio), 1.0)
    return score * penalty
