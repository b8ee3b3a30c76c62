#!/usr/bin/env bash
# Debian packages the test suite needs: a real PostgreSQL server (run as the postgres user).
set -euo pipefail
have_pg() { compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null && id postgres >/dev/null 2>&1; }
have_pg && command -v runuser >/dev/null && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "PostgreSQL server binaries are missing: run 'sudo apt-get install postgresql'" >&2
  exit 1
fi
echo "installing PostgreSQL from Debian's packages..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql util-linux >/dev/null
have_pg
