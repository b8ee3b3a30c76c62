"""The generator: rows in, litellm-config.yaml out (pure core; files.py does the IO)."""
