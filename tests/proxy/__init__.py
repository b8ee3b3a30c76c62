"""Tests of the code LiteLLM loads inside the proxy (hooks), without running the proxy."""
