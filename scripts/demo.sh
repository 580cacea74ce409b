#!/usr/bin/env bash
# The main job on the built-in default: no downloads. Extra arguments go to trainers.demo.
source "$(dirname "$0")/env.sh"
python -m trainers.demo "$@"
