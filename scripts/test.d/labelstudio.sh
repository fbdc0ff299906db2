# A real Label Studio server for tests/test_labelstudio_push.py. It pins its own
# label-studio-sdk (and Django, pandas...), so it lives in a venv of its own; the tests
# start it on 127.0.0.1 with a throwaway data folder. Idempotent: installs only when missing.
LS_VENV="$ROOT/.venv-labelstudio"
if [ ! -x "$LS_VENV/bin/label-studio" ]; then
  echo "==> installing label-studio into $LS_VENV (for the push-labelstudio tests)"
  "${PYTHON:-python3}" -m venv "$LS_VENV"
  "$LS_VENV/bin/python" -m pip install -q --upgrade pip
  "$LS_VENV/bin/python" -m pip install -q label-studio
fi
export LABEL_STUDIO_BIN="$LS_VENV/bin/label-studio"
