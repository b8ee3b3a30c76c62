"""Services: one module per concept; keyword-only functions that take a session and never commit."""
