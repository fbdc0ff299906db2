# PostgreSQL server binaries for the store tests that run against a real PostgreSQL
# (tests/conftest.py starts a throwaway cluster; it never uses a system-wide server).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "==> installing Debian's postgresql for the store tests"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q postgresql
fi
