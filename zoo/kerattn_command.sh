# Sourced by the zoo scripts: sets `kerattn` to the command they run: $KERATTN if set, else the
# repository's .venv/bin/kerattn if it exists, else kerattn on PATH. Run from the repository root.
if [[ -n ${KERATTN:-} ]]; then
    kerattn=$KERATTN
elif [[ -x .venv/bin/kerattn ]]; then
    kerattn=.venv/bin/kerattn
else
    kerattn=kerattn
fi
