#!/usr/bin/env bash
# CI: the SLURM-marked tests (tests/test_slurm.py) on a real single-node cluster. Run after
# `make test` (which creates .venv). The tests' fixture brings the cluster up with
# scripts/slurm-local.sh (installing slurmctld/slurmd/munge with apt-get if needed) and down again,
# so this script starts nothing itself. Needs root; without root, or when apt-get cannot install
# SLURM, the tests are skipped and the reason is printed (exit 0). Takes about 3 minutes on 2 cores.
#
#   scripts/ci-slurm.sh [pytest args...]     e.g. scripts/ci-slurm.sh -k failing
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin/python
[[ -x $PY ]] || { echo "ci-slurm: $PY not found; run 'make setup' (or 'make test') first" >&2; exit 1; }
STATE=${SLURM_LOCAL_DIR:-/tmp/trajmbrl-slurm}

status=0
"$PY" -m pytest tests/test_slurm.py -m slurm -rs --durations=10 -q "$@" || status=$?
if ((status != 0)); then
    # the fixture has already taken the cluster down; its logs stay in the state dir
    for f in "$STATE"/log/slurmctld.log "$STATE"/log/slurmd.log; do
        [[ -e $f ]] && { printf '\n==> %s (tail) <==\n' "$f" >&2; tail -n 30 "$f" >&2; }
    done
fi
exit "$status"
