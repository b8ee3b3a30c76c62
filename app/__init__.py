"""llm-admin: domain, persistence, services and CLI (never imports streamlit)."""
