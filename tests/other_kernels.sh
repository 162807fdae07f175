#!/usr/bin/env bash
# The kernel-dependent part of the suite, run again under other CPU kernels than this machine's
# default, on a copy of the working tree with nothing beside it (no ../shared): a stand-in for
# the student's CPU family and checkout that CI does not have. `make test-kernels` runs it;
# .ci/run runs it after `make test`.
#
#   KERNELS="ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41" (default: scalar ATen kernels,
#   SSE4.1 oneDNN kernels); any other pair of these variables can be given the same way.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
KERNELS=${KERNELS:-"ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41"}
# What depends on the kernels: notebooks that train or compute attributions, and the engine's
# pinned history and live-loop equality (tests/README.md, "Values that depend on the CPU").
TARGETS=(tests/test_pinned_history.py tests/test_training_loop.py
         notebooks/03_training.ipynb notebooks/06_inside_the_model.ipynb)

if [ -z "${MNIST_ROOT:-}" ] && [ -d data/MNIST ]; then export MNIST_ROOT="$repo/data"; fi
if [ -z "${MNIST_ROOT:-}" ]; then
  echo "error: set MNIST_ROOT to the folder holding MNIST/raw/ (the copy has no ./data)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
copy="$work/repo"  # nothing beside it: a file read from ../shared would be missing here
mkdir -p "$copy" "$work/figures"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  xargs -0 cp --parents -t "$copy"
ln -s "$repo/.venv" "$copy/.venv"
cd "$copy"
echo "=== kernel-dependent tests under: $KERNELS (copy of the working tree in $copy)"
# PYTHONPATH: the copy's utils, not the checkout that .venv's editable install points at
env $KERNELS FIGURES_DIR="$work/figures" PYTHONPATH="$copy" .venv/bin/pytest "${TARGETS[@]}" \
  --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
  -n "${TEST_WORKERS:-2}" --dist loadscope -p no:cacheprovider
