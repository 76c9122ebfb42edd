#!/usr/bin/env bash
# The whole test suite (the README's second Quickstart line and CI run this):
#   1. the exported package is in sync with the notebooks (exporting again leaves no diff),
#   2. the notebooks are clean (no outputs, no execution counts) and README.md matches nbs/index.ipynb,
#   3. every notebook's tests (nbdev_test),
#   4. the integration tests (pytest tests/).
# Nothing is downloaded: HF_HUB_OFFLINE=1 makes a stray download fail in seconds.
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::FutureWarning,ignore::DeprecationWarning}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"  # two notebooks run at once on two cores
workers="${DRF_NB_TEST_WORKERS:-2}"
start=$(date +%s)
fail() { echo "FAILED: $*"; exit 1; }

echo "== 1/4 exported package in sync with nbs/"
if git rev-parse --git-dir >/dev/null 2>&1; then
  nbdev_export || fail "nbdev_export"
  git diff --quiet --exit-code -- drf_nb || { git --no-pager diff --stat -- drf_nb; fail "drf_nb/ is out of sync with nbs/: run nbdev_export and commit"; }
  [ -z "$(git status --porcelain --untracked-files=all -- drf_nb)" ] || { git status --short -- drf_nb; fail "nbdev_export wrote files that are not committed"; }
else
  echo "not a git checkout: sync check skipped"
fi

echo "== 2/4 notebooks clean, README generated"
if git rev-parse --git-dir >/dev/null 2>&1; then
  nbdev_clean || fail "nbdev_clean"
  git diff --quiet --exit-code -- nbs || { git --no-pager diff --stat -- nbs; fail "notebooks are not clean: run nbdev_clean and commit"; }
fi
python scripts/make_readme.py --check || fail "README.md out of date"

echo "== 3/4 notebook tests (nbdev_test, $workers workers)"
nbdev_test --n_workers "$workers" --timing || fail "nbdev_test"

echo "== 4/4 integration tests (pytest tests/)"
python -m pytest tests/ -q -p no:cacheprovider
rc=$?
# exit code 5 means pytest collected no tests (e.g. a run filtered down to nothing): not a failure; anything else is
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi
[ "$rc" -eq 0 ] || fail "pytest exit code $rc"
echo "suite wall time: $(( $(date +%s) - start ))s"
