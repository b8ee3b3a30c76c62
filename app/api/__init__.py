"""The management HTTP API (`llm-admin api`): the dashboard's services over JSON, for automation.

Each endpoint calls the same service the page does, as the user whose API token it was sent with;
the services hold every rule (validation, roles, audit), so the API has none of its own."""
