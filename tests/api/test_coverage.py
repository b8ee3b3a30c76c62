"""Every operation the dashboard offers has an endpoint: each service function a page calls is called
by an API router too, or is listed here with the endpoint that does its job, or is not an operation
(a display helper, the password sign-in the API replaces with tokens). Read from the source."""

from __future__ import annotations

import ast
from pathlib import Path

from app.api.app import create_app
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "pages").glob("*.py")), ROOT / "streamlit_app.py"]
ROUTERS = sorted((ROOT / "app" / "api" / "routers").glob("*.py"))

# page-only helpers whose job an endpoint does another way: (service module, function) → endpoint
DONE_BY = {
    ("model_table", "model_rows"): ("GET", "/api/models"),
    ("model_table", "matching_ids"): ("GET", "/api/models"),
    ("model_table", "provider_choices"): ("GET", "/api/providers"),
    ("model_table", "save_edits"): ("PUT", "/api/models/{model_id}"),
    ("caller_keys", "callable_names"): ("GET", "/api/route-choices"),
    ("audit", "filter_choices"): ("GET", "/api/audit"),
    ("users", "current_actor"): ("GET", "/api/account"),  # the API re-reads the token's user per request
    ("caller_keys", "list_keys"): ("GET", "/api/caller-keys"),  # the Budgets page's application choices
    ("provider_status", "statuses"): ("GET", "/api/providers/status"),
}
# not operations: what a page shows or parses, and the password sign-in (the API takes tokens)
NOT_OPERATIONS = {
    ("provider_forms", "shows_base_url"),
    ("audit", "mask_details"),
    ("routes", "parse_weights"),  # the form's text lines; the API takes weights as JSON
    ("caller_keys", "scope_text"),
    ("golive", "restart_advice"),  # part of the proxy status the API returns
    ("golive", "needs_restart"),
    ("model_table", "pending_edits"),  # which table cells the user changed
    ("users", "authenticate"),
    # the dashboard's own sign-in session (the API authenticates each request by its token)
    ("dashboard_sessions", "start"),
    ("dashboard_sessions", "resume"),
    ("dashboard_sessions", "end"),
    ("audit", "changes"),  # which fields an entry's before and after differ in: the entry carries both
}


def service_calls(paths: list[Path]) -> set[tuple[str, str]]:
    """(module, function) for every `module.function(...)` call on a module imported from app.services."""
    found = set()
    for path in paths:
        tree = ast.parse(path.read_text())
        services = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "app.services"
            for alias in node.names
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in services
                and not node.func.attr[0].isupper()  # a dataclass built for display, not a call
            ):
                found.add((node.func.value.id, node.func.attr))
    return found


def served_routes(tmp_path: Path) -> set[tuple[str, str]]:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'routes.db'}", data_dir=tmp_path))
    paths = app.openapi()["paths"]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


def test_the_scan_finds_what_the_pages_call() -> None:
    on_pages = service_calls(PAGES)
    assert {("providers", "update_provider"), ("config", "apply"), ("users", "set_role")} <= on_pages
    assert ("providers", "update_provider") in service_calls(ROUTERS)


def test_every_operation_a_page_offers_has_an_endpoint(tmp_path: Path) -> None:
    missing = service_calls(PAGES) - service_calls(ROUTERS) - set(DONE_BY) - NOT_OPERATIONS
    assert missing == set(), f"add an endpoint for these page operations: {sorted(missing)}"


def test_every_endpoint_named_as_doing_a_page_job_exists(tmp_path: Path) -> None:
    served = served_routes(tmp_path)
    assert [route for route in DONE_BY.values() if route not in served] == []
    assert not (set(DONE_BY) | NOT_OPERATIONS) & service_calls(ROUTERS), (
        "listed here but the API calls it itself: take it off the list"
    )
