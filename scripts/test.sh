#!/usr/bin/env bash
# The whole test suite: lint, format check, then pytest (slow end-to-end tests included).
source "$(dirname "$0")/env.sh"
ruff check .
ruff format --check .
python -m pytest -q "$@"
