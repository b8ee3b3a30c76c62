"""Names the generated config shares with app/; imports nothing, so app.catalog stays light."""

# the api_key of an OpenAI-compatible server that needs none: not a secret, so it is written as it is
KEYLESS_API_KEY = "no-key"
# model_info: the name of the provider a deployment belongs to (the proxy's hooks read it)
PROVIDER_KEY = "llm_admin_provider"
