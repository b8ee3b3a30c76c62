#!/usr/bin/env bash
# Debian packages the test suite needs: a real PostgreSQL server (run as the postgres user), Redis for
# the several-proxies test, and Chromium for the one real-browser test (driven by Playwright).
set -euo pipefail
have_pg() { compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null && id postgres >/dev/null 2>&1; }
have_chromium() { [ -x /usr/bin/chromium ]; }
missing=()
{ have_pg && command -v runuser >/dev/null; } || missing+=(postgresql util-linux)
have_chromium || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v sqlite3 >/dev/null || missing+=(sqlite3)  # the runbook's `sqlite3 .backup` is tested too
command -v ip >/dev/null || missing+=(iproute2)  # the air-gapped proxy test's network namespace
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: run 'sudo apt-get install ${missing[*]}'" >&2
  exit 1
fi
echo "installing ${missing[*]} from Debian's packages..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
have_pg && have_chromium && command -v redis-server >/dev/null && command -v sqlite3 >/dev/null && command -v ip >/dev/null
