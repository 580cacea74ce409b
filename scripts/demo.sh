#!/usr/bin/env bash
# The main job on the built-in data: no downloads. The demo study (docs/study.md): pre-training,
# fine-tuning on QA and NLI, probing, and the tables. Extra arguments go to trainers.study.
source "$(dirname "$0")/env.sh"
python -m trainers.study --study=demo --output_dir=demo_output "$@"
