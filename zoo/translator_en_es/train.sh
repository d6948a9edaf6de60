#!/usr/bin/env bash
# translator_en_es v2 (zoo/translator_en_es/recipe.toml) into runs/translator_en_es_v2:
#
#   nohup zoo/translator_en_es/train.sh >/dev/null 2>&1 &   # in the background
#   tail -f runs/translator_en_es_v2/train.log                   # progress
#
# Re-run it after an interruption: it resumes (zoo/train_run.sh: code snapshot, nice 19).
# Needs corpora/localisation-es (`kerattn data localisation --lang es`). Arguments are passed
# on to `kerattn train` (e.g. `--max-steps 100` for a trial). Environment: RUN_DIR (default
# runs/translator_en_es_v2), and zoo/train_run.sh's.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ ! -f corpora/localisation-es/train.tsv ]]; then
    echo "corpora/localisation-es/train.tsv is missing; build it first with" \
        "\`kerattn data localisation --lang es\`." >&2
    exit 2
fi
exec zoo/train_run.sh zoo/translator_en_es/recipe.toml "${RUN_DIR:-runs/translator_en_es_v2}" "$@"
