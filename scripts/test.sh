#!/usr/bin/env bash
# The whole test suite: lint, format check, then pytest (slow end-to-end tests included), on
# PYTEST_WORKERS processes (default 2, one per core of the CI machine; 1 runs it in one process).
source "$(dirname "$0")/env.sh"
ruff check .
ruff format --check .
workers="${PYTEST_WORKERS:-2}"
if [ "$workers" = 1 ]; then
  python -m pytest -q "$@"
else
  # loadgroup: tests spread one by one over the workers, except files marked with an xdist_group
  # (an expensive shared fixture) which stay on one worker.
  python -m pytest -q -n "$workers" --dist loadgroup "$@"
fi
