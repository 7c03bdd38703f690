"""`vlmeval` with a slow blind model, for tests that kill a run (or one torchrun rank) midway:
    python tests/slow_cli.py DELAY_S run ... (torchrun tests/slow_cli.py DELAY_S run ... too).
Each process writes its pid to <--out>.rank<RANK>.pid first, so a test can kill one rank."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import vlmeval.runner  # noqa: E402
from helpers import SlowBlindAdapter  # noqa: E402
from vlmeval.cli import main  # noqa: E402

delay, argv = float(sys.argv[1]), sys.argv[2:]
out = argv[argv.index("--out") + 1]
Path(f"{out}.rank{os.environ.get('RANK', '0')}.pid").write_text(str(os.getpid()))
vlmeval.runner.resolve_model = lambda *args: SlowBlindAdapter(delay)
raise SystemExit(main(argv))
