"""Usage and costs: exact sums per provider, model group, route and day from the rollups, percentiles to
within 0.5%, filters, CSV, budgets, and rollups that agree with the events however they were built."""

from __future__ import annotations

import math
import random
import threading
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.orm import Session

from app import db, migrate
from app.errors import ValidationError
from app.models import Provider, Route, UsageEvent, UsageLatencyRollup, UsageRollup
from app.runtime import usage as usage_sink
from app.services import budgets, usage
from app.services.access import Actor

DAY = date(2026, 3, 10)
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def event(**values: Any) -> dict[str, Any]:
    """A usage row as the proxy hook builds it."""
    row: dict[str, Any] = {
        "at": NOON,
        "provider": "Acme",
        "model_group": "gpt-4o",
        "deployment": "llm-admin-m1",
        "route": None,
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "cost_usd": 0.25,
        "latency_ms": 500.0,
        "status": "success",
        "error_class": None,
        "fallback": False,
        "revision": 1,
    }
    row.update(values)
    return row


def record(rows: list[dict[str, Any]]) -> None:
    with db.Session.begin() as session:
        usage_sink.record_events(session, rows)


def report(**kwargs: Any) -> usage.UsageReport:
    kwargs.setdefault("start", DAY)
    kwargs.setdefault("end", DAY)
    with db.Session.begin() as session:
        return usage.usage_report(session, **kwargs)


def rollups(session: Session) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Both rollup tables as sorted tuples, dates as dates and sums as plain numbers."""

    def plain(row: Any) -> tuple[Any, ...]:
        values = tuple(row)
        return (
            int(values[0]),
            usage._as_date(values[1]),
            *(round(v, 9) if isinstance(v, float) else v for v in values[2:]),
        )

    cube = sorted(plain(r) for r in session.execute(select(*UsageRollup.__table__.columns)))
    hist = sorted(plain(r) for r in session.execute(select(*UsageLatencyRollup.__table__.columns)))
    return cube, hist


def nearest_rank(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


# --- sums ------------------------------------------------------------------------------------


def test_totals_and_every_breakdown_are_exact(db_url: str) -> None:
    record(
        [
            event(
                provider="Acme", model_group="gpt-4o", cost_usd=0.5, prompt_tokens=1000, completion_tokens=200
            ),
            event(provider="Acme", model_group="gpt-4o-mini", route="agent/summarizer", cost_usd=0.125),
            event(
                provider="Beta", model_group="claude", route="agent/summarizer", cost_usd=1.0, fallback=True
            ),
            event(
                provider="Beta", model_group="claude", status="failure", cost_usd=0.0, error_class="Timeout"
            ),
            event(provider=None, model_group=None, cost_usd=0.0, status="failure", latency_ms=None),
        ]
    )

    result = report()

    assert result.totals == usage.UsageRow("total", 5, 2, 1, 1400, 280, 1.625)
    assert result.totals.tokens == 1680
    assert result.totals.error_rate == pytest.approx(0.4)
    assert [(r.key, r.requests, r.failures, r.cost_usd) for r in result.by_provider] == [
        ("Beta", 2, 1, 1.0),
        ("Acme", 2, 0, 0.625),
        ("", 1, 1, 0.0),
    ]
    assert [(r.key, r.requests, r.cost_usd) for r in result.by_model_group] == [
        ("claude", 2, 1.0),
        ("gpt-4o", 1, 0.5),
        ("gpt-4o-mini", 1, 0.125),
        ("", 1, 0.0),
    ]
    assert [(r.key, r.requests, r.fallbacks, r.cost_usd) for r in result.by_route] == [
        ("agent/summarizer", 2, 1, 1.125),
        ("", 3, 0, 0.5),
    ]
    assert [(r.key, r.requests, r.cost_usd) for r in result.by_day] == [(DAY, 5, 1.625)]


def test_every_day_of_the_range_is_listed_and_days_are_utc(db_url: str) -> None:
    record(
        [
            event(at=datetime(2026, 3, 10, 0, 0, tzinfo=UTC), cost_usd=1.0),
            event(at=datetime(2026, 3, 10, 23, 59, 59, tzinfo=UTC), cost_usd=2.0),
            event(at=datetime(2026, 3, 13, 1, 30, tzinfo=UTC), cost_usd=4.0),
            event(at=datetime(2026, 3, 12, 22, 30, tzinfo=UTC), cost_usd=8.0),
        ]
    )

    result = report(start=date(2026, 3, 9), end=date(2026, 3, 13))

    assert [(r.key, r.requests, r.cost_usd) for r in result.by_day] == [
        (date(2026, 3, 9), 0, 0.0),
        (date(2026, 3, 10), 2, 3.0),
        (date(2026, 3, 11), 0, 0.0),
        (date(2026, 3, 12), 1, 8.0),
        (date(2026, 3, 13), 1, 4.0),
    ]


def test_the_date_range_leaves_out_other_days(db_url: str) -> None:
    record([event(at=NOON + timedelta(days=n), cost_usd=float(2**n)) for n in range(-2, 3)])

    result = report(start=DAY - timedelta(days=1), end=DAY + timedelta(days=1))

    assert (result.totals.requests, result.totals.cost_usd) == (3, 0.5 + 1 + 2)
    assert report(start=DAY + timedelta(days=5), end=DAY + timedelta(days=6)).empty


def test_an_empty_range_has_no_figures(db_url: str) -> None:
    result = report()
    assert result.empty
    assert (result.totals.requests, result.totals.error_rate, result.p50_ms, result.p95_ms) == (
        0,
        None,
        None,
        None,
    )
    assert (result.by_provider, result.by_model_group, result.by_route) == ([], [], [])
    assert [r.requests for r in result.by_day] == [0]


def test_an_end_before_the_start_is_refused_naming_the_field(db_url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        report(start=DAY, end=DAY - timedelta(days=1))
    assert caught.value.fields == ["end"]
    assert "on or after the start" in str(caught.value)


# --- latency -------------------------------------------------------------------------------


def test_p50_and_p95_are_the_nearest_rank_values_of_successful_requests(db_url: str) -> None:
    latencies = [10.0 * n for n in range(1, 101)]
    rows = [event(latency_ms=ms) for ms in latencies]
    rows += [event(status="failure", latency_ms=99_999.0), event(latency_ms=None)]
    record(rows)

    result = report()

    # each latency has a bucket of its own: the percentiles are exact
    assert (result.p50_ms, result.p95_ms) == (500.0, 950.0)


def test_a_rank_inside_a_bucket_gives_its_middle_kept_within_the_values_seen() -> None:
    bucket = usage_sink.latency_bucket(1000.0)
    middle = usage_sink.bucket_value(bucket)
    histogram = [(bucket - 50, 1, 600.0, 600.0), (bucket, 3, 995.0, 999.0)]
    assert usage.percentile(histogram, 0.25) == 600.0
    assert usage.percentile(histogram, 0.5) == 995.0  # rank 2: the first value of the bucket
    assert usage.percentile(histogram, 0.75) == min(max(middle, 995.0), 999.0)  # rank 3: inside
    assert usage.percentile(histogram, 1.0) == 999.0
    assert usage.percentile([], 0.5) is None


@pytest.mark.parametrize("seed", [1, 2])
def test_percentiles_stay_within_half_a_percent_of_the_exact_ones(db_url: str, seed: int) -> None:
    rng = random.Random(seed)
    latencies = [round(rng.lognormvariate(math.log(800), 0.8), 1) for _ in range(2000)]
    latencies += [0.0, 0.1]
    record([event(latency_ms=ms) for ms in latencies])

    result = report()

    for fraction, value in ((0.5, result.p50_ms), (0.95, result.p95_ms)):
        assert value == pytest.approx(nearest_rank(latencies, fraction), rel=0.005, abs=0.01)


def test_bucket_values_are_within_half_a_percent_of_what_falls_in_them() -> None:
    rng = random.Random(3)
    for ms in [rng.uniform(0.1, 600_000) for _ in range(5000)] + [1.0, 1.01, 100.0, 1234.5]:
        assert usage_sink.bucket_value(usage_sink.latency_bucket(ms)) == pytest.approx(ms, rel=0.005)


# --- filters against a reference computed from the events -----------------------------------


def random_events(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return [
        event(
            at=start + timedelta(seconds=rng.randrange(10 * 86400)),
            provider=rng.choice(["Acme", "Beta", "Gamma", None]),
            model_group=rng.choice(["gpt-4o", "claude", "llama", "agent/chat/fallback-1", None]),
            route=rng.choice([None, None, "agent/chat", "agent/code"]),
            prompt_tokens=rng.randrange(2000),
            completion_tokens=rng.randrange(500),
            cost_usd=rng.randrange(1, 10_000) / 1024,
            latency_ms=rng.choice([None, round(rng.uniform(5, 9000), 1)]),
            status=rng.choice(["success"] * 9 + ["failure"]),
            fallback=rng.random() < 0.1,
        )
        for _ in range(n)
    ]


def reference(
    rows: list[dict[str, Any]], start: date, end: date, provider: str | None, route: str | None
) -> Any:
    """The report's figures computed from the events in Python."""
    chosen = [
        r
        for r in rows
        if start <= r["at"].date() <= end
        and (provider is None or (r["provider"] or "") == provider)
        and (route is None or (r["route"] or "") == route)
    ]

    def sums(group: list[dict[str, Any]]) -> tuple[Any, ...]:
        return (
            len(group),
            sum(r["status"] != "success" for r in group),
            sum(bool(r["fallback"]) for r in group),
            sum(r["prompt_tokens"] for r in group),
            sum(r["completion_tokens"] for r in group),
            sum(r["cost_usd"] for r in group),
        )

    def by(name: str) -> dict[str, tuple[Any, ...]]:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in chosen:
            groups[r[name] or ""].append(r)
        return {key: sums(group) for key, group in groups.items()}

    latencies = [r["latency_ms"] for r in chosen if r["status"] == "success" and r["latency_ms"] is not None]
    return sums(chosen), by("provider"), by("model_group"), by("route"), latencies


def as_tuple(row: usage.UsageRow) -> tuple[Any, ...]:
    return (row.requests, row.failures, row.fallbacks, row.prompt_tokens, row.completion_tokens, row.cost_usd)


@pytest.mark.parametrize(
    ("provider", "route"),
    [(None, None), ("Beta", None), (None, "agent/chat"), ("Acme", "agent/code"), ("", "")],
)
def test_filters_match_sums_computed_from_the_events(
    db_url: str, provider: str | None, route: str | None
) -> None:
    rows = random_events(7, 1500)
    record(rows)
    start, end = date(2026, 3, 3), date(2026, 3, 7)

    result = report(start=start, end=end, provider=provider, route=route)

    totals, by_provider, by_group, by_route, latencies = reference(rows, start, end, provider, route)
    assert as_tuple(result.totals) == totals  # costs are multiples of 1/1024: sums are exact
    for got, expected in (
        (result.by_provider, by_provider),
        (result.by_model_group, by_group),
        (result.by_route, by_route),
    ):
        assert {str(r.key): as_tuple(r) for r in got} == expected
    assert [r.cost_usd for r in result.by_provider] == sorted(
        (r.cost_usd for r in result.by_provider), reverse=True
    )
    assert result.p50_ms == pytest.approx(nearest_rank(latencies, 0.5), rel=0.005)
    assert result.p95_ms == pytest.approx(nearest_rank(latencies, 0.95), rel=0.005)


def test_filter_options_list_providers_and_routes_with_usage_in_the_range(db_url: str) -> None:
    record(
        [
            event(provider="Beta", route="agent/code"),
            event(provider="Acme"),
            event(provider=None),
            event(provider="Later", route="agent/late", at=NOON + timedelta(days=3)),
        ]
    )
    with db.Session.begin() as session:
        assert usage.filter_options(session, start=DAY, end=DAY) == (["", "Acme", "Beta"], ["", "agent/code"])


def test_filter_options_taken_from_an_unfiltered_report_of_the_range_equal_those_read(db_url: str) -> None:
    record(
        [
            event(provider="Beta", route="agent/code"),
            event(provider="Acme"),
            event(provider=None),
            event(provider="Later", route="agent/late", at=NOON + timedelta(days=3)),
        ]
    )
    end = DAY + timedelta(days=3)
    with db.Session.begin() as session:
        for start, last in ((DAY, DAY), (DAY, end), (DAY + timedelta(days=1), DAY + timedelta(days=2))):
            read = usage.filter_options(session, start=start, end=last)
            whole = usage.usage_report(session, start=start, end=last)
            assert usage.filter_options(session, start=start, end=last, report=whole) == read
            # a filtered report, or one of another range, names fewer: the options are read
            for other in (
                usage.usage_report(session, start=start, end=last, provider="Acme"),
                usage.usage_report(session, start=start, end=last, route=""),
                usage.usage_report(session, start=end, end=end),
            ):
                assert usage.filter_options(session, start=start, end=last, report=other) == read


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_has_one_line_per_day_provider_model_group_and_route(db_url: str) -> None:
    record(
        [
            event(provider="Acme", cost_usd=0.25),
            event(provider="Acme", cost_usd=0.5, status="failure"),
            event(provider="Beta", route="agent/chat", model_group="agent/chat", cost_usd=1.0, fallback=True),
            event(provider="Acme", at=NOON + timedelta(days=1), cost_usd=2.0),
            event(provider="Acme", at=NOON + timedelta(days=9), cost_usd=4.0),
        ]
    )
    with db.Session.begin() as session:
        text_ = usage.export_csv(session, start=DAY, end=DAY + timedelta(days=1))
        only_beta = usage.export_csv(session, start=DAY, end=DAY, provider="Beta")

    assert text_.splitlines() == [
        "day,provider,model_group,route,requests,failures,fallbacks,prompt_tokens,completion_tokens,cost_usd",
        "2026-03-10,Acme,gpt-4o,,2,1,0,200,40,0.75",
        "2026-03-10,Beta,agent/chat,agent/chat,1,0,1,100,20,1.0",
        "2026-03-11,Acme,gpt-4o,,1,0,0,100,20,2.0",
    ]
    assert only_beta.splitlines()[1:] == ["2026-03-10,Beta,agent/chat,agent/chat,1,0,1,100,20,1.0"]


# --- rollups and events agree --------------------------------------------------------------


def test_rebuilding_from_the_events_gives_the_rollups_the_writes_kept(db_url: str) -> None:
    rows = random_events(11, 800)
    with db.Session.begin() as session:
        for start in range(0, len(rows), 37):  # as the writer does: many small batches
            usage_sink.record_events(session, rows[start : start + 37])
    with db.Session.begin() as session:
        kept = rollups(session)
        usage.rebuild_rollups(session)
    with db.Session.begin() as session:
        assert rollups(session) == kept
        usage.rebuild_rollups(session, since=date(2026, 3, 6))
    with db.Session.begin() as session:
        assert rollups(session) == kept
    assert len(kept[0]) > 8 and len(kept[1]) > 4


def test_rebuild_fills_rollups_for_events_written_without_them(db_url: str) -> None:
    rows = random_events(12, 300)
    with db.Session.begin() as session:
        session.execute(insert(UsageEvent), rows)
        usage.rebuild_rollups(session)
    with db.Session.begin() as session:
        rebuilt = rollups(session)
        session.execute(text("DELETE FROM usage_rollups"))
        session.execute(text("DELETE FROM usage_latency_rollups"))
        usage_sink.add_to_rollups(session, rows)
    with db.Session.begin() as session:
        assert rollups(session) == rebuilt


def test_migration_0005_rolls_up_the_events_already_stored(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0004")
    rows = random_events(13, 400)
    engine = create_engine(empty_db_url)
    with engine.begin() as conn:
        conn.execute(insert(UsageEvent), rows)
    engine.dispose()

    migrate.upgrade(empty_db_url)

    db.init(empty_db_url)
    with db.Session.begin() as session:
        migrated = rollups(session)
        usage.rebuild_rollups(session)
    with db.Session.begin() as session:
        assert rollups(session) == migrated
    assert migrated[0] and migrated[1]


def test_the_proxy_event_writer_adds_to_the_rollups_in_its_transaction(db_url: str) -> None:
    from app.proxy import hooks

    writer = hooks.EventWriter()
    writer.pending.extend([event(cost_usd=0.5), event(provider="Beta", cost_usd=0.25, latency_ms=900.0)])
    writer._flush([])

    result = report()
    assert (result.totals.requests, result.totals.cost_usd) == (2, 0.75)
    assert [r.key for r in result.by_provider] == ["Acme", "Beta"]
    assert result.p95_ms == pytest.approx(900.0, rel=0.005)


def test_concurrent_writers_lose_no_sums_and_do_not_deadlock(db_url: str) -> None:
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(25):
                record(
                    [
                        event(provider=p, cost_usd=0.5)
                        for p in ("Acme", "Beta", "Gamma")[:: 1 if n % 2 else -1]
                    ]
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    result = report()
    assert (result.totals.requests, result.totals.cost_usd) == (300, 150.0)
    assert {r.key: r.requests for r in result.by_provider} == {"Acme": 100, "Beta": 100, "Gamma": 100}


# --- budgets -----------------------------------------------------------------------------


def test_budget_spend_is_summed_from_the_rollups_over_the_whole_period(db_url: str, admin: Actor) -> None:
    now = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    with db.Session.begin() as session:
        for name in ("Acme", "Beta"):
            session.add(
                Provider(name=name, name_key=name.lower(), type="openai", created_by="t", updated_by="t")
            )
        session.add(Route(agent_type="chat", model="gpt-4o", created_by="t", updated_by="t"))
        session.flush()
        budgets.add_budget(session, actor=admin, scope="provider", target="Acme", period="daily", limit_usd=2)
        budgets.add_budget(
            session, actor=admin, scope="provider", target="Acme", period="monthly", limit_usd=10
        )
        budgets.add_budget(
            session, actor=admin, scope="provider", target="Beta", period="monthly", limit_usd=1
        )
        budgets.add_budget(session, actor=admin, scope="route", target="chat", period="daily", limit_usd=4)
    record(
        [
            event(at=now, provider="Acme", cost_usd=1.5),
            event(at=now.replace(hour=0), provider="Acme", route="agent/chat", cost_usd=1.0),
            event(at=now - timedelta(days=1), provider="Acme", route="agent/chat", cost_usd=3.0),
            event(at=now - timedelta(days=5), provider="Acme", cost_usd=0.5),  # March, not today
            event(at=datetime(2026, 2, 28, 23, 0, tzinfo=UTC), provider="Acme", cost_usd=100.0),  # February
            event(at=now, provider="Gamma", cost_usd=9.0),
        ]
    )

    with db.Session.begin() as session:
        got = budgets.list_budgets(session, now=now)

    assert [(b.target, b.period, b.spent_usd, b.exhausted) for b in got] == [
        ("Acme", "daily", 2.5, True),
        ("Acme", "monthly", 6.0, False),
        ("Beta", "monthly", 0.0, False),
        ("chat", "daily", 1.0, False),
    ]


# --- by caller application -------------------------------------------------------------------


def test_usage_by_application_sums_spend_requests_errors_and_latency(db_url: str) -> None:
    record(
        [
            event(application="billing", cost_usd=1.0, latency_ms=100.0),
            event(application="billing", cost_usd=2.0, latency_ms=300.0),
            event(application="billing", status="failure", cost_usd=0.0, latency_ms=50.0),
            event(application="billing", status="refused", provider=None, cost_usd=0.0, latency_ms=None),
            event(application="search", cost_usd=0.5, latency_ms=40.0, at=NOON + timedelta(days=1)),
            event(application=None, cost_usd=0.25),
        ]
    )
    with db.Session.begin() as session:
        rows = usage.usage_by_application(session, start=DAY, end=DAY + timedelta(days=1))
        first_day = usage.usage_by_application(session, start=DAY, end=DAY)
    assert [r.application for r in rows] == ["billing", "search", ""]
    billing = rows[0]
    assert (billing.requests, billing.failures, billing.refused, billing.cost_usd) == (4, 1, 1, 3.0)
    assert billing.tokens == 4 * 120
    assert billing.mean_latency_ms == 200.0  # the two successful requests only
    assert billing.error_rate == pytest.approx(1 / 3)  # the refusal is the caller's, not a provider's
    assert [r.application for r in first_day] == ["billing", ""]
    # the refusal is counted nowhere as a provider's error
    assert report(end=DAY + timedelta(days=1)).totals.failures == 1


def test_an_application_with_only_refusals_has_no_error_rate_or_latency(db_url: str) -> None:
    record([event(application="x", status="refused", provider=None, cost_usd=0.0, latency_ms=None)])
    with db.Session.begin() as session:
        (row,) = usage.usage_by_application(session, start=DAY, end=DAY)
    assert (row.requests, row.failures, row.refused) == (1, 0, 1)
    assert row.error_rate is None and row.mean_latency_ms is None


def test_usage_by_application_refuses_an_end_before_the_start(db_url: str) -> None:
    with db.Session.begin() as session, pytest.raises(ValidationError) as caught:
        usage.usage_by_application(session, start=DAY, end=DAY - timedelta(days=1))
    assert caught.value.errors[0].field == "end"


def test_application_csv_has_one_line_per_day_and_application(db_url: str) -> None:
    record(
        [
            event(application="billing", cost_usd=1.0, latency_ms=100.0),
            event(application="billing", status="refused", provider=None, cost_usd=0.0, latency_ms=None),
            event(application=None, status="failure", cost_usd=0.0),
            event(application="billing", cost_usd=0.5, latency_ms=30.0, at=NOON + timedelta(days=1)),
        ]
    )
    with db.Session.begin() as session:
        text_ = usage.export_application_csv(session, start=DAY, end=DAY + timedelta(days=1))
    assert text_.splitlines() == [
        "day,application,requests,failures,refused,prompt_tokens,completion_tokens,cost_usd,mean_latency_ms",
        "2026-03-10,,1,1,0,100,20,0.0,",
        "2026-03-10,billing,2,0,1,200,40,1.0,100.0",
        "2026-03-11,billing,1,0,0,100,20,0.5,30.0",
    ]


def test_rebuilding_gives_the_application_sums_the_writes_kept(db_url: str) -> None:
    rng = random.Random(21)
    rows = [
        {
            **r,
            "application": rng.choice(["a", "b", None]),
            "status": rng.choice(["success", "failure", "refused"]),
        }
        for r in random_events(21, 300)
    ]
    record(rows)
    start, end = date(2026, 3, 1), date(2026, 3, 12)

    def sums(session: Session) -> list[tuple[Any, ...]]:
        return [
            (
                r.application,
                r.requests,
                r.failures,
                r.refused,
                r.tokens,
                round(r.cost_usd, 6),
                round(r.latency_ms_sum, 3),
            )
            for r in usage.usage_by_application(session, start=start, end=end)
        ]

    with db.Session.begin() as session:
        kept = sums(session)
        usage.rebuild_rollups(session)
    with db.Session.begin() as session:
        assert sums(session) == kept
        usage.rebuild_rollups(session, since=date(2026, 3, 6))
    with db.Session.begin() as session:
        assert sums(session) == kept
    assert {k[0] for k in kept} == {"a", "b", ""}
