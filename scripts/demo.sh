#!/usr/bin/env bash
# The main job: install everything, then assemble, verify and JIT a program whose
# BPF-to-BPF call and kfunc call pass 12 arguments (6..12 through r11).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node apps/cli/dist/bin.js demo
