"""One router per resource; `ALL` is what the application serves."""

from app.api.routers import caller_keys, catalog, config, models, monitoring, providers, routing, users

ALL = [
    providers.router,
    models.router,
    catalog.router,
    routing.router,
    caller_keys.router,
    config.router,
    monitoring.router,
    users.router,
]
