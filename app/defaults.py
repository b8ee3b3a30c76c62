"""Defaults and choices the services and the command-line parser share; imports nothing."""

# budgets
PERIODS = ("daily", "monthly")

# caller keys: how long the previous key keeps working after a rotation
DEFAULT_OVERLAP_SECONDS = 3600

# health monitor
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 1.5
# A provider whose probe just failed is probed again this soon, not a whole interval later: two
# failures in a row make it down, so an outage is confirmed within about RECHECK + the probe timeout.
DEFAULT_RECHECK = 5.0
# a probe slower than this: degraded, still serving (app.services.health judges)
DEGRADED_LATENCY_MS = 1000.0

# the management HTTP API: where `llm-admin api` listens, and how long a new token lasts
API_HOST = "127.0.0.1"
API_PORT = 8600
API_TOKEN_DAYS = 90
