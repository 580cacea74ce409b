#!/usr/bin/env bash
# The test suite: lint, format check, then pytest (slow end-to-end tests included), on
# PYTEST_WORKERS processes (default 2, one per core of the CI machine; 1 runs it in one process).
# The full demo-study test (marker `demo`, about 6 CPU-minutes) is left out: `-m demo` runs it
# alone, as .ci/run does after the suite. A later -m given to this script replaces the default.
source "$(dirname "$0")/env.sh"
ruff check .
ruff format --check .
workers="${PYTEST_WORKERS:-2}"
if [ "$workers" = 1 ]; then
  python -m pytest -q -m "not demo" "$@"
else
  # loadgroup: tests spread one by one over the workers, except files marked with an xdist_group
  # (an expensive shared fixture) which stay on one worker.
  python -m pytest -q -n "$workers" --dist loadgroup -m "not demo" "$@"
fi
