"""How long the built-in world takes to build: the 500-image eval split and POPE's requests.

    .venv/bin/python bench/scenes_gen.py
"""

import time

from vlmeval.data import scenes, scenes_samples
from vlmeval.probes.pope import PopeProbe


def timed(label, fn):
    start = time.perf_counter()
    value = fn()
    print(f"{label:<48} {time.perf_counter() - start:7.3f} s")
    return value


def main() -> None:
    scenes.scene.cache_clear()
    scenes.scene_sha256.cache_clear()
    samples = timed("eval split: 500 scenes + render + sha256", lambda: scenes_samples("eval", 500))
    timed("render 500 images again (what an adapter decodes)",
          lambda: [scenes.render(s.fields["scene"]) for s in samples])
    requests = timed("POPE: plan all three settings", lambda: PopeProbe().requests())
    print(f"{len(samples)} images, {len(requests)} POPE requests")


if __name__ == "__main__":
    main()
