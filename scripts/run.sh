#!/usr/bin/env bash
# `make run`: migrate the embedded database, make sure an admin exists, then run the supervised
# LiteLLM proxy (127.0.0.1:4000) next to the dashboard (127.0.0.1:8501). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export LITELLM_LOCAL_MODEL_COST_MAP=True
BIN=.venv/bin

"$BIN/llm-admin" db upgrade
# First run only: creates 'admin' with LLM_ADMIN_PASSWORD, or prints a one-time password.
"$BIN/llm-admin" create-admin --username admin --if-none --generate

mkdir -p data/logs
"$BIN/llm-admin" proxy run >>data/logs/supervisor.log 2>&1 &
SUPERVISOR=$!
trap 'kill $SUPERVISOR 2>/dev/null; wait $SUPERVISOR 2>/dev/null' EXIT INT TERM

PORT="${LLM_ADMIN_DASHBOARD_PORT:-8501}"
echo "dashboard: http://127.0.0.1:${PORT}"
echo "proxy:     http://127.0.0.1:${LLM_ADMIN_PROXY_PORT:-4000}/v1 (starts with the first applied config;"
echo "           master key in data/master.key; logs in data/logs/)"
"$BIN/streamlit" run streamlit_app.py \
  --server.address 127.0.0.1 --server.port "$PORT" --server.headless true \
  --browser.gatherUsageStats false
