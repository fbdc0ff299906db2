# Shared set-up for scripts/demo and scripts/test: make .venv and install Labeler into it.
# Idempotent and quick the second time: reinstalls only when pyproject.toml changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

ensure_installed() {  # $1: pip extras spec, e.g. "" or "[test]"
  local extras="$1"
  local stamp="$VENV/.labeler-installed$extras"
  local want
  want="$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing labeler$extras into .venv"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".$extras"
    echo "$want" > "$stamp"
  fi
}

as_root() {  # run a command as root (CI and this machine run as root; elsewhere use sudo)
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
