"""End-to-end tests: the real LiteLLM proxy against fake upstreams on 127.0.0.1."""
