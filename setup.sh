#!/usr/bin/env bash
# Creates .venv and installs vlmeval into it (a regular, non-editable install: what users get).
#   bash setup.sh          # the tool
#   bash setup.sh --dev    # the tool and the test dependencies
#   bash setup.sh --editable --dev   # for working on vlmeval itself
set -euo pipefail
cd "$(dirname "$0")"
extras="" editable=""
for arg in "$@"; do
  case "$arg" in
    --dev) extras="[dev]" ;;
    --editable) editable="-e" ;;
    *) echo "setup.sh: unknown option $arg (valid: --dev, --editable)" >&2; exit 2 ;;
  esac
done
[ -x .venv/bin/python ] || python3 -m venv .venv
# constraints.txt pins torch to the CPU wheel these machines carry; users get pyproject's ranges.
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt $editable ".$extras"
