from collections import Counter
from itertools import combinations

import numpy as np

from vlmeval.data import load_image, scenes, scenes_samples


def test_same_seed_same_scene_and_pixels():
    a = scenes.scene("eval", 7)
    scenes.scene.cache_clear()
    b = scenes.scene("eval", 7)
    assert a == b
    assert scenes.image_sha256(scenes.render(a)) == scenes.image_sha256(scenes.render(b))


def test_splits_use_disjoint_seed_streams():
    # One-object scenes have a few thousand possible layouts, so a handful coincide across
    # splits by chance; scenes rich enough for POPE (>= 3 categories) must never leak.
    train = {scenes.scene_sha256("train", i) for i in range(2000)}
    rich_eval = {scenes.scene_sha256("eval", s.index) for s in scenes.scenes("eval", 500)
                 if len(s.categories) >= 3}
    assert len(rich_eval) > 200 and not train & rich_eval
    assert [scenes.scene("train", i) for i in range(50)] != [scenes.scene("eval", i) for i in range(50)]


def test_ground_truth_is_complete_and_consistent():
    for s in scenes.scenes("eval", 100):
        assert s.theme in scenes.THEMES
        assert scenes.MIN_OBJECTS <= len(s.objects) <= scenes.MAX_OBJECTS
        assert len({o.cell for o in s.objects}) == len(s.objects)  # one object per cell
        image = np.asarray(scenes.render(s))
        for o in s.objects:
            x0, y0, x1, y1 = o.bbox
            assert 0 <= x0 < x1 < scenes.IMAGE_SIZE and 0 <= y0 < y1 < scenes.IMAGE_SIZE
            assert x1 - x0 + 1 == scenes.SIZES[o.size]
            row, col = o.cell
            assert col * scenes.CELL <= x0 and x1 < (col + 1) * scenes.CELL
            assert row * scenes.CELL <= y0 and y1 < (row + 1) * scenes.CELL
            # The glyph is drawn in its colour inside its box.
            patch = image[y0:y1 + 1, x0:x1 + 1].reshape(-1, 3)
            assert (patch == scenes.COLOURS[o.colour]).all(axis=1).sum() >= 10
        for a, b in combinations(s.objects, 2):
            ax0, ay0, ax1, ay1 = a.bbox
            bx0, by0, bx1, by1 = b.bbox
            assert ax1 < bx0 or bx1 < ax0 or ay1 < by0 or by1 < ay0  # boxes never overlap


def test_themes_make_categories_cooccur():
    """Pairs of core categories of one theme co-occur far more than cross-theme pairs."""
    pairs = Counter()
    for s in scenes.scenes("eval", 500):
        for a, b in combinations(sorted(s.categories), 2):
            pairs[a, b] += 1
    assert pairs["moon", "star"] > 3 * max(1, pairs["moon", "plus"])
    freq = Counter(c for s in scenes.scenes("eval", 500) for c in s.categories)
    assert freq["circle"] > 1.5 * freq["plus"]  # circle is core in 3 themes, plus in 1


def test_samples_reference_images_that_decode_to_the_hashed_pixels():
    samples = scenes_samples("eval", 5)
    assert [s.id for s in samples] == [f"scenes-eval-{i:05d}" for i in range(5)]
    for s in samples:
        assert scenes.image_sha256(load_image(s.image)) == s.image.sha256
        assert s.objects == s.fields["scene"].categories
