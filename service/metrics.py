"""Prometheus metrics: requests and latencies by route, search and review timings, store size.

Under gunicorn (``gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR``) every worker writes
its samples to that directory and ``/metrics`` adds them up, so any worker answers a scrape
with the totals of all of them. Elsewhere (``hindsight serve``, tests) the counters live in a
registry of the app's own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from service import models

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class StoreCollector(Collector):
    """Documents and chunks stored, read from the database at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        documents = GaugeMetricFamily(
            "hindsight_documents", "Documents stored, by kind.", labels=["kind"]
        )
        with Session(self.engine) as session:
            for kind, n in session.execute(
                select(col(models.Document.kind), func.count()).group_by(col(models.Document.kind))
            ):
                documents.add_metric([kind], int(n))
            chunks = int(
                session.execute(select(func.count()).select_from(models.Chunk)).scalar_one()
            )
        yield documents
        yield GaugeMetricFamily("hindsight_chunks", "Chunks stored (embedded passages).", chunks)


class Metrics:
    """The app's instruments; ``init_app`` times every request."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hindsight_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hindsight_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.search = Histogram(
            "hindsight_search_duration_seconds",
            "Time spent in search (query encoding, both indexes, fusion).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.review = Histogram(
            "hindsight_review_duration_seconds",
            "Time spent reviewing a change plan.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(StoreCollector(engine))

    def init_app(self, app: Flask) -> None:
        app.extensions["hindsight_metrics"] = self
        app.before_request(_start_timer)
        app.after_request(self._record)

    def _record(self, response: Response) -> Response:
        started = g.pop("metrics_started", None)
        route = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
        self.requests.labels(route, request.method, str(response.status_code)).inc()
        if started is not None:
            self.latency.labels(route, request.method).observe(time.perf_counter() - started)
        return response

    @contextmanager
    def timing(self, which: str) -> Iterator[None]:
        """Observe the ``search`` or ``review`` histogram around a block."""
        histogram = self.search if which == "search" else self.review
        started = time.perf_counter()
        try:
            yield
        finally:
            histogram.observe(time.perf_counter() - started)

    def exposition(self) -> tuple[bytes, str]:
        """The text format answer for a scrape: all workers' samples when multiprocess."""
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not directory:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        registry.register(StoreCollector(self.engine))
        return generate_latest(registry), CONTENT_TYPE_LATEST


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def metrics_of(app: Flask) -> Metrics:
    metrics: Metrics = app.extensions["hindsight_metrics"]
    return metrics
