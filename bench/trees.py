"""Run a benchmark against another source tree (a checkout of an earlier commit): `use(tree)`
makes `import vlmeval` (and the packages pyproject.toml maps into it: tasks, probes, reports)
load from that tree instead of this one or an editable install. Call it before importing
vlmeval."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def use(tree: Path | str) -> None:
    tree = Path(tree).resolve()
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "")]
    sys.path.insert(0, str(tree))
    import vlmeval

    assert Path(vlmeval.__file__).resolve().is_relative_to(tree), vlmeval.__file__
    for sub in ("tasks", "probes", "reports"):
        init = tree / sub / "__init__.py"
        spec = importlib.util.spec_from_file_location(f"vlmeval.{sub}", init,
                                                      submodule_search_locations=[str(init.parent)])
        module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
