#!/usr/bin/env bash
# `make run`: migrate the embedded database, make sure an admin exists, then run the supervised
# LiteLLM proxy (127.0.0.1:4000), the health monitor and the HTTP API (127.0.0.1:8600) next to the
# dashboard (127.0.0.1:8501).
# Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
export LITELLM_LOCAL_MODEL_COST_MAP=True
BIN=.venv/bin

"$BIN/llm-admin" db upgrade
# First run only: creates 'admin' with LLM_ADMIN_PASSWORD, or prints a one-time password.
"$BIN/llm-admin" create-admin --username admin --if-none --generate

mkdir -p data/logs
# First run only: a caller key for trying the proxy (the master key is for ops, not for callers).
if [ ! -s data/caller.key ] && KEY=$("$BIN/llm-admin" key create --application quickstart \
    --description "make run's first caller key" 2>/dev/null | head -n 1); then
  (umask 077 && printf '%s\n' "$KEY" >data/caller.key)
fi
"$BIN/llm-admin" proxy run >>data/logs/supervisor.log 2>&1 &
SUPERVISOR=$!
# health monitor: probes the providers every 30 s, marks them down, alerts, steers traffic off the down
"$BIN/llm-admin" monitor >>data/logs/monitor.log 2>&1 &
MONITOR=$!
API_PORT="${LLM_ADMIN_API_PORT:-8600}"
"$BIN/llm-admin" api --port "$API_PORT" >>data/logs/api.log 2>&1 &
API=$!

# the proxy's first boot takes seconds (LiteLLM's import): say where it is until it serves
proxy_progress() {
  local started=$SECONDS status
  while kill -0 "$SUPERVISOR" 2>/dev/null; do
    status=$("$BIN/llm-admin" proxy status 2>/dev/null || true)
    case "$status" in
      *"revision live: "[0-9]*)
        echo "proxy:     $(grep -o 'revision live: [0-9]*' <<<"$status") after $((SECONDS - started)) s"
        return ;;
      *"waiting for the first"*)
        echo "proxy:     waits for the first applied config (Config page → Apply)"
        return ;;
    esac
    echo "proxy:     starting… $((SECONDS - started)) s"
    sleep 3
  done
  echo "proxy:     the supervisor stopped; see data/logs/supervisor.log"
}
proxy_progress &
PROGRESS=$!
trap 'kill $SUPERVISOR $MONITOR $API $PROGRESS 2>/dev/null' EXIT

PORT="${LLM_ADMIN_DASHBOARD_PORT:-8501}"
echo "dashboard: http://127.0.0.1:${PORT}"
echo "proxy:     http://127.0.0.1:${LLM_ADMIN_PROXY_PORT:-4000}/v1 (starts with the first applied config;"
echo "           your caller key is in data/caller.key (\`llm-admin key create\` makes more);"
echo "           the master key in data/master.key is for ops only; logs in data/logs/)"
echo "monitor:   probes every provider every 30 s; \`llm-admin health\` shows what it found"
echo "api:       http://127.0.0.1:${API_PORT}/api/docs (a token: \`llm-admin token create --user admin --name me\`)"
# no file watcher (nothing to reload in a run; it flooded the console with inotify overflows);
# Ctrl-C stops everything and is a normal end of `make run`, not an error
"$BIN/streamlit" run dashboard.py \
  --server.address 127.0.0.1 --server.port "$PORT" --server.headless true \
  --server.fileWatcherType none --browser.gatherUsageStats false --logger.level warning &
DASHBOARD=$!
trap 'kill $SUPERVISOR $MONITOR $API $PROGRESS $DASHBOARD 2>/dev/null || true; wait $SUPERVISOR $MONITOR $API $DASHBOARD 2>/dev/null || true; exit 0' INT TERM
trap 'kill $SUPERVISOR $MONITOR $API $PROGRESS $DASHBOARD 2>/dev/null' EXIT
wait $DASHBOARD
