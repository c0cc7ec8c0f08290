"""Slack and Mattermost slash commands: verify, parse, call one service function, render.

``/hindsight search|review|incident|help``. Search and incident answer inline (tens of
milliseconds); review is acknowledged at once and delivered to the command's
``response_url`` from a small background pool, since Slack gives a command three seconds.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, request
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient
from werkzeug.exceptions import HTTPException

from service import chat_render as render
from service.hindsight import Hindsight
from service.review import MAX_PLAN_CHARS
from service.search import QueryError

chatops = Blueprint("chatops", __name__)
log = logging.getLogger(__name__)

SEARCH_K = 10  # the chat shows the first few; the count says how many more the page has
REVIEW_K = 5
REVIEW_WORKERS = 2
MAX_PENDING_REVIEWS = 16  # beyond this, say "busy" rather than queue without bound
DELIVERY_TIMEOUT = 10  # seconds for posting an answer to response_url


@dataclass(frozen=True)
class Platform:
    name: str
    markup: render.Markup
    to_body: Callable[[render.Message], dict[str, Any]]


SLACK = Platform("slack", render.SLACK_MARKUP, render.to_slack)
MATTERMOST = Platform("mattermost", render.MATTERMOST_MARKUP, render.to_mattermost)


def _hs() -> Hindsight:
    from service.app import hindsight_of

    return hindsight_of(current_app)


def _refused() -> Response:
    return Response(b"", status=401)


# --------------------------------------------------------------------------- the doors


@chatops.post("/chatops/slack")
def slack() -> Any:
    body = request.get_data(cache=True)  # the raw bytes Slack signed, before form parsing
    if not slack_verified(
        _hs().config["slack_signing_secret"],
        body,
        request.headers.get("X-Slack-Request-Timestamp"),
        request.headers.get("X-Slack-Signature"),
    ):
        return _refused()
    form = request.form
    if "payload" in form or form.get("ssl_check"):
        return Response(b"", status=200)  # a link button's click or Slack's TLS check: ack
    return _answer(SLACK, form)


@chatops.post("/chatops/mattermost")
def mattermost() -> Any:
    if not mattermost_verified(
        _hs().config["mattermost_token"], request.headers.get("Authorization"), request.form
    ):
        return _refused()
    return _answer(MATTERMOST, request.form)


@chatops.errorhandler(Exception)
def _unexpected(exc: Exception) -> Any:
    if isinstance(exc, HTTPException):  # a malformed request (too large, unreadable): no answer
        return Response(b"", status=exc.code or 400)
    # Chat platforms show any non-2xx answer as a bare failure: say something readable.
    log.exception("chat command failed")
    text = "Hindsight could not answer this command (the error was logged). Try again shortly."
    return jsonify({"response_type": "ephemeral", "text": text})


def slack_verified(secret: str, body: bytes, timestamp: str | None, signature: str | None) -> bool:
    """True when ``signature`` is the v0 HMAC of ``body`` made with ``secret`` at
    ``timestamp``, and that was less than five minutes ago (compared in constant time)."""
    if not secret or not secret.strip():
        return False
    try:
        return SignatureVerifier(secret).is_valid(
            body=body, timestamp=timestamp, signature=signature
        )
    except (ValueError, UnicodeDecodeError):  # a timestamp that is not a number, bad bytes
        return False


def mattermost_verified(token: str, authorization: str | None, form: Mapping[str, str]) -> bool:
    """True when the command's token (header ``Authorization: Token …`` or form ``token``)
    matches the configured one, compared in constant time."""
    if not token:
        return False
    given = ""
    if authorization and authorization[:6].lower() == "token ":
        given = authorization[6:].strip()
    elif "token" in form:
        given = form["token"]
    return hmac.compare_digest(given.encode(), token.encode())


# --------------------------------------------------------------------------- commands


def _answer(platform: Platform, form: Mapping[str, str]) -> Any:
    m = platform.markup
    command = form.get("command") or "/hindsight"
    words = (form.get("text") or "").strip().split(maxsplit=1)
    sub = words[0].lower() if words else ""
    rest = words[1] if len(words) > 1 else ""
    links = _links()
    try:
        if sub in ("", "help"):
            msg = render.usage(command, m)
        elif sub == "search":
            msg = _search(rest, command, links, m)
        elif sub == "incident":
            msg = _incident(rest, command, links, m)
        elif sub == "review":
            msg = _review_command(platform, rest, command, links, form.get("response_url"))
        else:
            msg = render.usage(
                command,
                m,
                intro=f"There is no {m.code(render.clip(sub, 40))} command. Try one of these.",
            )
    except QueryError as exc:
        msg = render.notice(f"{m.text(str(exc))}\nType {m.code(command + ' help')} for examples.")
    return jsonify(platform.to_body(msg))


def _links() -> render.Links:
    base = str(_hs().config["base_url"] or request.url_root)
    return render.Links(base.rstrip("/"))


def _search(words: str, command: str, links: render.Links, m: render.Markup) -> render.Message:
    if not words.strip():
        example = m.code(command + " search payment outage after a config push")
        return render.notice(f"Type a few words after search, e.g. {example}")
    result = _hs().search(words, k=SEARCH_K)
    return render.search_message(result.as_dict(), links, m)


def _incident(words: str, command: str, links: render.Links, m: render.Markup) -> render.Message:
    doc_id = words.strip()
    if not doc_id:
        example = m.code(command + " search <words>")
        return render.notice(f"Give an incident id, e.g. from {example}.")
    doc = _hs().document(doc_id) if len(doc_id) <= 200 else None
    if doc is not None:
        return render.incident_message(doc, links, m)
    text = f"No incident has the id {m.code(render.clip(doc_id, 80))}."
    try:
        hits = _hs().search(doc_id, k=3).results
    except QueryError:
        hits = []
    if hits:
        text += " Did you mean " + ", ".join(m.code(str(h["id"])) for h in hits) + "?"
    return render.notice(text)


def review_of(hindsight: Hindsight, plan: str) -> dict[str, Any]:
    """The review the API gives for ``plan``: the one place chat calls the review service."""
    return hindsight.review(plan, k=REVIEW_K).as_dict()


def _review_command(
    platform: Platform, plan: str, command: str, links: render.Links, response_url: str | None
) -> render.Message:
    m = platform.markup
    plan = plan.strip()
    if not plan:
        example = m.code(
            command + " review raise the connection pool size on all databases at once"
        )
        return render.notice(f"Paste the change plan after review, e.g. {example}")
    if len(plan) > MAX_PLAN_CHARS:  # say so now rather than after "Reviewing…"
        return render.notice(
            f"The plan is {len(plan):,} characters; the limit is {MAX_PLAN_CHARS:,}. Paste the "
            f"part that describes the change, or use the review page: {links.review()}"
        )
    hindsight = _hs()
    if not response_url:  # nowhere to deliver later: answer now
        return render.review_message(review_of(hindsight, plan), plan, links, m)
    if not response_url_allowed(response_url, hindsight.config["chatops_response_hosts"]):
        # The host only: a response_url is itself a short-lived credential for the channel.
        log.warning("refused to deliver a review to %r: host not allowed", _host(response_url))
        return render.notice(
            "Hindsight may not post answers to this chat server. Ask its administrator to add "
            f"the host to {m.code('HINDSIGHT_CHATOPS_RESPONSE_HOSTS')}."
        )
    if not _submit(_deliver_review, platform, hindsight, plan, links, response_url):
        return render.notice("Hindsight is busy with other reviews; try again in a minute.")
    return render.notice(
        f"Reviewing your plan ({len(plan):,} characters) against past incidents; "
        "the answer will appear here in a few seconds."
    )


def response_url_allowed(url: str, allowed: str) -> bool:
    """True for an http(s) URL whose host is one of the comma-separated ``allowed`` hosts."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    hosts = {h.strip().lower() for h in allowed.split(",") if h.strip()}
    return parts.scheme in ("http", "https") and host in hosts


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def _deliver_review(
    platform: Platform, hindsight: Hindsight, plan: str, links: render.Links, response_url: str
) -> None:
    m = platform.markup
    try:
        msg = render.review_message(review_of(hindsight, plan), plan, links, m)
    except QueryError as exc:
        msg = render.notice(m.text(str(exc)))
    except Exception:
        log.exception("review for chat failed")
        msg = render.notice("Hindsight could not review this plan (the error was logged).")
    try:
        response = WebhookClient(response_url, timeout=DELIVERY_TIMEOUT).send_dict(
            platform.to_body(msg)
        )
    except Exception as exc:
        log.warning(
            "could not deliver a %s review to %s: %s", platform.name, _host(response_url), exc
        )
        return
    if response.status_code >= 300:
        log.warning(
            "delivering a %s review to %s answered %s: %s",
            platform.name,
            _host(response_url),
            response.status_code,
            render.clip(response.body or "", 200),
        )


# --------------------------------------------------------------------------- background pool

_pool: ThreadPoolExecutor | None = None
_pending = 0
_lock = threading.Lock()


def _submit(fn: Callable[..., None], *args: Any) -> bool:
    """Run ``fn(*args)`` in the background pool; False when too much is already waiting.

    The pool is made on first use, so under gunicorn it lives in the forked worker."""
    global _pool, _pending
    with _lock:
        if _pending >= MAX_PENDING_REVIEWS:
            return False
        if _pool is None:
            _pool = ThreadPoolExecutor(REVIEW_WORKERS, thread_name_prefix="hindsight-chatops")
        _pending += 1
        pool = _pool

    def run() -> None:
        global _pending
        try:
            fn(*args)
        finally:
            with _lock:
                _pending -= 1

    pool.submit(run)
    return True
