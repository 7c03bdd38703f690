import random
from collections import Counter

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from vlmeval.probes.pope import (
    SETTINGS, PopeProbe, build_questions, cooccurrence_order, frequency_order, question)
from vlmeval.records import Sample

# A tiny hand-checkable world: counts a:4 b:3 c:3 d:1 e:1 f:1 g:1 (ties: first seen first).
TOY = [
    Sample("s1", None, ("a", "b", "c")),
    Sample("s2", None, ("a", "b", "d")),
    Sample("s3", None, ("a", "c", "e", "f")),
    Sample("s4", None, ("a", "b", "c", "g")),
]


def test_question_template_articles():
    assert question("star") == "Is there a star in the image?"
    assert question("arrow") == "Is there an arrow in the image?"


def test_frequency_and_cooccurrence_counts():
    assert frequency_order(TOY)[:4] == ["a", "b", "c", "d"]
    co = cooccurrence_order(TOY)
    assert co["a"][:2] == ["b", "c"]  # a-b and a-c co-occur 3 times each, b first seen first
    assert co["e"] == ["a", "c", "f"]


def test_popular_negatives_are_the_most_frequent_absent_ones():
    qs = build_questions(TOY, "popular", 3, random.Random(0))
    negatives = {s.id: [o for (x, o, lab) in qs if x is s and lab == "no"] for s in TOY}
    assert negatives["s1"] == ["d", "e", "f"]
    assert negatives["s2"] == ["c", "e", "f"]
    assert negatives["s3"] == ["b", "d", "g"]


def test_adversarial_negatives_follow_cooccurrence_of_each_positive():
    qs = build_questions(TOY, "adversarial", 3, random.Random(0))
    s3 = [(o, lab) for (x, o, lab) in qs if x.id == "s3"]
    # s3 holds a, c, e, f; positives a, c, e.
    # co[a] = b3 c3 d1 e1 f1 g1 -> b.  co[c] = a3 b2 e1 f1 g1 -> g (a, e, f present, b asked).
    # co[e] = a, c, f: all present -> random fallback; only d is absent and not yet asked.
    assert s3 == [("a", "yes"), ("b", "no"), ("c", "yes"), ("g", "no"), ("e", "yes"), ("d", "no")]


@pytest.mark.parametrize("setting", SETTINGS)
def test_sampling_properties_on_the_scenes_world(setting):
    probe = PopeProbe(settings=(setting,))
    samples = probe.samples()
    assert len(samples) > 200 and all(len(s.objects) >= 3 for s in samples)
    qs = build_questions(samples, setting, 3, random.Random(1))
    by_image = {}
    for s, obj, label in qs:
        by_image.setdefault(s.id, []).append((obj, label, s))
    vocabulary = {o for s in samples for o in s.objects}
    for sid, items in by_image.items():
        s = items[0][2]
        assert [lab for _, lab, _ in items] == ["yes", "no"] * 3  # interleaved, balanced
        assert [o for o, lab, _ in items if lab == "yes"] == list(s.objects[:3])
        asked = [o for o, _, _ in items]
        assert len(asked) == len(set(asked))  # never asked twice
        for o, lab, _ in items:
            assert o in vocabulary
            if lab == "no":
                assert o not in s.objects  # never a present object


def test_popular_and_adversarial_are_harder_for_a_prior():
    """Negatives under popular/adversarial are frequent/co-occurring categories more often."""
    probe = PopeProbe()
    samples = probe.samples()
    freq = Counter(o for s in samples for o in s.objects)
    mean_freq = {}
    for setting in SETTINGS:
        qs = build_questions(samples, setting, 3, random.Random(0))
        mean_freq[setting] = np.mean([freq[o] for _, o, lab in qs if lab == "no"])
    assert mean_freq["popular"] > mean_freq["adversarial"] > mean_freq["random"]


def record(setting, sample_id, label, raw):
    return {"sample_id": sample_id, "request_id": f"{setting}/{sample_id}/{raw}/{label}",
            "raw": raw, "error": None, "options": ["yes", "no"], "option_logprobs": None,
            "meta": {"setting": setting, "label": label, "object": "star", "cooccurrence": 0.0}}


def test_metrics_against_a_hand_computed_confusion_matrix():
    # random: TP 3, FN 1, FP 1, TN 3 over two images.
    rows = [("i1", "yes", "Yes"), ("i1", "no", "No"), ("i1", "yes", "Yes"), ("i1", "no", "Yes"),
            ("i2", "yes", "yes"), ("i2", "no", "no"), ("i2", "yes", "No"), ("i2", "no", "no")]
    records = [record("random", *r) for r in rows]
    score = PopeProbe(settings=("random",)).score(records, "official", seed=0)
    m = {k: v.value for k, v in score.metrics.items()}
    assert score["counts"]["random"] == {"tp": 3, "fp": 1, "tn": 3, "fn": 1,
                                         "unparsed_pos": 0, "unparsed_neg": 0}
    assert m["random/accuracy"] == pytest.approx(6 / 8)
    assert m["random/precision"] == pytest.approx(3 / 4)
    assert m["random/recall"] == pytest.approx(3 / 4)
    assert m["random/f1"] == pytest.approx(3 / 4)
    assert m["random/yes_ratio"] == pytest.approx(4 / 8)
    assert m["random/false_positive_rate"] == pytest.approx(1 / 4)
    assert score.metrics["random/precision"].n == 4
    assert m["mean/f1"] == m["random/f1"]
    y_true = [lab for _, lab, _ in rows]
    y_pred = ["yes" if raw.lower().startswith("y") else "no" for _, _, raw in rows]
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=["yes"], average=None)
    assert (m["random/precision"], m["random/recall"], m["random/f1"]) == pytest.approx((p[0], r[0], f[0]))


def test_unparsed_answers_are_never_yes_and_are_counted():
    rows = [("i1", "yes", "Yes"), ("i1", "no", "maybe"), ("i1", "yes", "I can't tell"),
            ("i1", "no", "No")]
    score = PopeProbe(settings=("random",)).score([record("random", *r) for r in rows], "strict", seed=0)
    m = {k: v.value for k, v in score.metrics.items()}
    assert m["random/unparsed_rate"] == 0.5
    assert m["random/recall"] == 0.5  # the unparsed positive is a miss
    assert m["random/false_positive_rate"] == 0.0  # the unparsed negative is not a false yes
    assert m["random/accuracy"] == 0.5
    assert m["random/precision"] == 1.0


def test_zero_denominators_are_nan_with_n_zero_never_zero():
    rows = [("i1", "yes", "No"), ("i1", "no", "No")]
    score = PopeProbe(settings=("random",)).score([record("random", *r) for r in rows], "official", seed=0)
    precision = score.metrics["random/precision"]
    assert np.isnan(precision.value) and precision.n == 0
    assert score.metrics["random/f1"].value == 0.0  # defined: 2TP/(2TP+FP+FN) = 0/1
    empty = PopeProbe().score([], "official", seed=0)
    # every setting and the mean, and the three co-occurrence buckets, each NaN with n=0
    assert len(empty.metrics) == 4 * 7 + 3
    assert all(np.isnan(m.value) and m.n == 0 for m in empty.metrics.values())


def test_bootstrap_ci_is_seeded_and_brackets_the_value():
    rng = np.random.default_rng(0)
    rows = [(f"i{i // 6}", "yes" if i % 2 == 0 else "no", "Yes" if rng.random() < 0.6 else "No")
            for i in range(600)]
    records = [record("random", *r) for r in rows]
    a = PopeProbe(settings=("random",)).score(records, "official", seed=3).metrics["random/accuracy"]
    b = PopeProbe(settings=("random",)).score(records, "official", seed=3).metrics["random/accuracy"]
    assert a == b
    assert a.ci_low < a.value < a.ci_high and a.ci_high - a.ci_low < 0.2
    assert a.n == 600


def test_a_limited_run_asks_a_subset_of_the_full_benchmark():
    full = {(r.request_id, r.prompt, r.target) for r in PopeProbe().requests()}
    limited = PopeProbe(limit=2).requests()
    assert len(limited) == 2 * 18
    assert {(r.request_id, r.prompt, r.target) for r in limited} <= full
