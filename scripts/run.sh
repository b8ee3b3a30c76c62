#!/usr/bin/env bash
# `make run`: migrate the embedded database, make sure an admin exists, start the dashboard.
set -euo pipefail
cd "$(dirname "$0")/.."
export LITELLM_LOCAL_MODEL_COST_MAP=True
BIN=.venv/bin

"$BIN/llm-admin" db upgrade
# First run only: creates 'admin' with LLM_ADMIN_PASSWORD, or prints a one-time password.
"$BIN/llm-admin" create-admin --username admin --if-none --generate

PORT="${LLM_ADMIN_DASHBOARD_PORT:-8501}"
echo "dashboard: http://127.0.0.1:${PORT}  (Ctrl-C stops it)"
exec "$BIN/streamlit" run streamlit_app.py \
  --server.address 127.0.0.1 --server.port "$PORT" --server.headless true \
  --browser.gatherUsageStats false
