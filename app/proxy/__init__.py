"""Code that runs inside the LiteLLM proxy: the secret manager (and, later, our hooks)."""
