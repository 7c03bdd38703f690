"""CHAIR (Rohrbach et al., EMNLP 2018): object hallucination in generated descriptions.

The model describes each image ("Describe the image."); every object word in the description
is mapped to a category through a synonym table and compared with the image's ground-truth
objects, as the authors' chair.py does:

- CHAIR_i = hallucinated object mentions / object mentions, every mention counted ("two dogs
  and a dog" is two mentions of dog);
- CHAIR_s = captions with at least one hallucinated mention / captions;
- recall = ground-truth categories mentioned / ground-truth categories;
- mean_length = words per caption.

Mentions (`SynonymTable.mentions`), step by step as chair.py: the caption is lower-cased and
split into words; each word becomes its singular ("men" -> man, "knives" -> knife, "mice" ->
mouse, through the `inflect` library; a word that is itself a name in the table is kept as
written, so "people", "skis", "bus" and "scissors" stay); two-word names ("hot dog", "teddy
bear", "traffic light") are joined, left to right, and so are the authors' qualifier rules:
"baby"/"adult" + an animal is the animal (not a person), "passenger jet"/"passenger train" is
the vehicle, "bow tie" is a tie, "toilet seat" is a toilet; when a caption holds both "toilet"
and "seat", "seat" (a chair synonym) is dropped; every remaining word that is a name maps to
its category. Names of three or more words never match, as in chair.py. Differences from
chair.py, by choice: it singularizes with pattern.en (unmaintained, Python 2 era), whose
quirks its synonym list carries ("knive", "wine glas"); inflect gives the plain singulars;
words are split at spaces and punctuation except hyphens (nltk's tokenizer, which needs
downloaded data, splits the same way on such captions); names are matched lower-cased ("iPhone"
in the official list never matches there). docs/chair.md works an example through both.

A synonyms file in the common format (one line per category, canonical name first,
comma-separated) replaces the built-in scenes table.

With --data: a COCO instances JSON (500 images drawn with the seed; --limit N draws N), ground
truth from its instances and from the objects its reference captions mention
(captions_<split>.json beside it), as CHAIR does; pass CHAIR's COCO synonyms file with
--synonyms (default: the category names only).

A caption with no object mentions has no CHAIR_i contribution (CHAIR_i is NaN with n=0 when no
caption mentions anything); it counts as not hallucinating for CHAIR_s. Units for the CIs are
images.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from vlmeval.data import coco, prompts, scenes_samples
from vlmeval.data.files import read_json
from vlmeval.data.scenes import CATEGORIES
from vlmeval.errors import DataError
from vlmeval.probes import PROBES
from vlmeval.records import Parsed, Request, Verdict
from vlmeval.sections import table
from vlmeval.stats import CountTable, safe_ratio
from vlmeval.tasks.base import Task, TaskScore

# The scenes world's synonym table: canonical name first, as in a synonyms file.
SCENES_SYNONYMS = """\
circle, disc, disk, dot
square, box
triangle
star
cross, saltire
plus, plus sign
heart
diamond, rhombus, lozenge
ring, donut, doughnut, annulus
arrow
moon, crescent, crescent moon, half moon
hourglass, sand glass, sandglass
"""
_WORD = re.compile(r"[a-z]+")
_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
COLUMNS = ("captions", "hallucinating_captions", "mentions", "hallucinated_mentions",
           "gt_objects", "gt_mentioned", "words")
CAPS, HCAPS, MENTIONS, HMENTIONS, GT, GT_HIT, WORDS = range(len(COLUMNS))
# chair.py's qualifier rules: "baby dog" is a dog (not a person), "passenger jet" a jet.
ANIMALS = ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe",
           "animal", "cub")
QUALIFIED = {**{f"{q} {a}": a for q in ("baby", "adult") for a in ANIMALS},
             "passenger jet": "jet", "passenger train": "train", "bow tie": "tie",
             "toilet seat": "toilet"}


@lru_cache(maxsize=65536)
def singular(word: str) -> str:
    """A word's singular ("men" -> "man", "knives" -> "knife"), or the word when it has none."""
    return _inflect().singular_noun(word) or word


@lru_cache(maxsize=1)
def _inflect():
    """inflect's engine. inflect wraps its methods in typeguard's run-time type checks, whose
    instrumentation takes 1.2 s at import (5% of the main job); vlmeval passes it plain words,
    so it is imported with typeguard's decorator as a pass-through (same singulars, 0.01 s)."""
    import typeguard

    checked = typeguard.typechecked
    typeguard.typechecked = lambda target=None, **_: target if target is not None else (lambda f: f)
    try:
        import inflect
    finally:
        typeguard.typechecked = checked
    return inflect.engine()


class SynonymTable:
    """Maps the words of a caption to categories as chair.py does (module docstring)."""

    def __init__(self, lines: Iterable[str], source: str = "built-in") -> None:
        self.source = source
        self.lines = list(lines)  # as given: run.json records them, so scoring needs no file
        self.names: dict[str, str] = {}
        for n, line in enumerate(self.lines, 1):
            names = [" ".join(_TOKEN.findall(part.lower())) for part in line.split(",")]
            names = [x for x in names if x]
            if not names:
                continue
            canonical = names[0]
            for name in names:
                if self.names.get(name, canonical) != canonical:
                    raise DataError(f"{source}:{n}: {name!r} is listed under both "
                                    f"{self.names[name]!r} and {canonical!r}; keep one")
                self.names[name] = canonical
        if not self.names:
            raise DataError(f"{source}: no categories; write one line per category, canonical "
                            f"name first, comma-separated synonyms")
        # two-word names join their words; the qualifier rules come after (bow tie: a tie)
        self.pairs = {name: name for name in self.names if name.count(" ") == 1} | QUALIFIED
        self.categories = tuple(dict.fromkeys(self.names.values()))

    @classmethod
    def from_file(cls, path: Path) -> "SynonymTable":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise DataError(f"{path}: cannot read the synonyms file ({e.strerror})") from None
        return cls(text.splitlines(), str(path))

    def words(self, caption: str) -> list[str]:
        """The caption's words after singulars, two-word names and the toilet-seat rule."""
        tokens = [t if t in self.names else singular(t) for t in _TOKEN.findall(caption.lower())]
        out, i = [], 0
        while i < len(tokens):
            pair = " ".join(tokens[i:i + 2])
            if i + 1 < len(tokens) and pair in self.pairs:
                out.append(self.pairs[pair])
                i += 2
            else:
                out.append(tokens[i])
                i += 1
        if "toilet" in out and "seat" in out:  # the seat of a toilet is no chair
            out = [w for w in out if w != "seat"]
        return out

    def mentions(self, caption: str) -> list[str]:
        """Categories mentioned, in order, every mention (the same category may repeat)."""
        return [self.names[w] for w in self.words(caption) if w in self.names]


SCENES_TABLE = SynonymTable(SCENES_SYNONYMS.splitlines(), "scenes synonyms")
assert set(SCENES_TABLE.categories) == set(CATEGORIES)


def chair_counts(caption: str, truth: Sequence[str], table: SynonymTable) -> np.ndarray:
    """COLUMNS for one caption."""
    mentioned = table.mentions(caption)  # every mention, as chair.py counts them
    truth = set(truth)
    hallucinated = [c for c in mentioned if c not in truth]
    row = np.zeros(len(COLUMNS))
    row[[CAPS, HCAPS, MENTIONS, HMENTIONS, GT, GT_HIT, WORDS]] = (
        1, bool(hallucinated), len(mentioned), len(hallucinated), len(truth),
        len(truth & set(mentioned)), len(_WORD.findall(caption.lower())))
    return row


@PROBES.register("chair")
class ChairProbe(Task):
    """CHAIR_i, CHAIR_s, recall and length of generated descriptions; most hallucinated objects."""

    name = "chair"
    version = "2"
    headline = "chair_s"
    accepts = ("synonyms",)
    reads_data = True
    lower_is_better = frozenset({"chair_i", "chair_s"})
    neutral = frozenset({"mean_length"})
    companions = ("recall", "chair_i")

    def __init__(self, *, synonyms: Path | None = None, **common: Any) -> None:
        super().__init__(**common)
        self.synonyms = Path(synonyms) if synonyms else None
        self.table = SynonymTable.from_file(self.synonyms) if self.synonyms else SCENES_TABLE

    def args(self) -> dict[str, Any]:
        return {**super().args(), "synonyms": self.table.source}

    def scoring_inputs(self) -> dict[str, Any]:
        """The synonym table actually used (its source and every line), so scoring needs
        neither the synonyms file nor the COCO annotations."""
        return {"synonyms": {"source": self.table.source, "lines": self.table.lines}}

    def restore(self, scoring: Mapping[str, Any]) -> None:
        table = scoring["synonyms"]
        self.table = SynonymTable(table["lines"], table["source"])

    def requests(self) -> list[Request]:
        if self.data is not None:
            return self._coco_requests()
        return [Request(task=self.name, request_id=s.id, sample_id=s.id,
                        prompt=prompts.CAPTION_QUESTION, image=s.image,
                        target=prompts.reference_captions(s.fields["scene"])[0],
                        max_new_tokens=64, meta={"objects": list(s.objects)})
                for s in scenes_samples("eval")[: self.limit]]

    def _coco_requests(self) -> list[Request]:
        """COCO: ground truth = the image's instance categories plus the objects its reference
        captions mention (captions_<split>.json beside the instances file, if present), as
        CHAIR does. Without --synonyms the table is the instance category names."""
        assert self.data is not None
        data = read_json(self.data)
        if not coco.is_instances(data):
            raise DataError(f"{self.data}: chair reads a COCO instances JSON "
                            f"(instances_val2014.json); pass that file")
        if self.synonyms is None:
            self.table = SynonymTable([c["name"] for c in data["categories"]], "COCO category names")
        samples = coco.load_instances(self.data, self.images, min_objects=1,
                                      n_images=self.limit or 500, seed=self.seed)
        captions_path = self.data.with_name(self.data.name.replace("instances_", "captions_"))
        refs: dict[str, list[str]] = {}
        if captions_path != self.data and captions_path.is_file():
            refs = {s.id: list(s.fields["answers"]) for s in coco.load(captions_path, self.images)}
        out = []
        for s in samples:
            truth = dict.fromkeys([*s.objects, *(c for ref in refs.get(s.id, [])
                                                 for c in self.table.mentions(ref))])
            out.append(Request(task=self.name, request_id=s.id, sample_id=s.id,
                               prompt=prompts.CAPTION_QUESTION, image=s.image,
                               target=(refs.get(s.id) or [", ".join(truth)])[0],
                               max_new_tokens=64, meta={"objects": list(truth)}))
        return out

    def parse(self, raw: str, policy: str) -> Parsed:
        """The categories mentioned (comma-separated), under either policy."""
        return Parsed.ok(", ".join(dict.fromkeys(self.table.mentions(raw))))

    def verdict(self, record: dict[str, Any], parsed: Parsed) -> Verdict:
        row = chair_counts(record["raw"], record["meta"]["objects"], self.table)
        hallucinated = [c for c in dict.fromkeys(self.table.mentions(record["raw"]))
                        if c not in record["meta"]["objects"]]
        return Verdict(correct=not hallucinated,
                       outcome="hallucinated: " + ", ".join(hallucinated) if hallucinated
                       else "no hallucination",
                       scores={"hallucinated": float(bool(hallucinated)),
                               "hallucinated_mentions": float(row[HMENTIONS]),
                               "mentions": float(row[MENTIONS])})

    def count_table(self, records: Sequence[dict[str, Any]], policy: str) -> CountTable:
        counts = np.array([chair_counts(r["raw"] or "", r["meta"]["objects"], self.table)
                           for r in records]).reshape(len(records), len(COLUMNS))
        metrics = {
            "chair_i": lambda s: safe_ratio(s[..., HMENTIONS], s[..., MENTIONS]),
            "chair_s": lambda s: safe_ratio(s[..., HCAPS], s[..., CAPS]),
            "recall": lambda s: safe_ratio(s[..., GT_HIT], s[..., GT]),
            "mean_length": lambda s: safe_ratio(s[..., WORDS], s[..., CAPS]),
        }
        n_of = {"chair_i": lambda s: s[..., MENTIONS], "chair_s": lambda s: s[..., CAPS],
                "recall": lambda s: s[..., GT], "mean_length": lambda s: s[..., CAPS]}
        return CountTable([r["request_id"] for r in records], counts, metrics, n_of)

    def score(self, records: Sequence[dict[str, Any]], policy: str, seed: int) -> TaskScore:
        hallucinated = Counter(c for r in records
                               for c in dict.fromkeys(self.table.mentions(r["raw"] or ""))
                               if c not in r["meta"]["objects"])
        metrics = self.count_table(records, policy).bootstrap(seed)
        notes = [f"synonyms: {self.table.source}"]
        headline_note = None
        if records and metrics["chair_i"].n == 0:
            headline_note = (f"no caption mentions any object ({len(records)} captions): CHAIR is "
                             f"0 because nothing was named, not because nothing was hallucinated")
            notes.insert(0, headline_note)
        return TaskScore(metrics=metrics,
                         sections=[table("most hallucinated objects", "most_hallucinated")],
                         most_hallucinated=[{"object": c, "captions": n}
                                            for c, n in hallucinated.most_common(10)],
                         synonyms=self.table.source,
                         notes=notes, headline_note=headline_note)
