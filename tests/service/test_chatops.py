"""Slack and Mattermost slash commands against the real app under gunicorn, with real
signatures, and a local HTTP receiver standing in for the platforms' response_url."""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlencode

import pytest
import requests
from slack_sdk.models.blocks import Block
from slack_sdk.signature import SignatureVerifier

from service import chat_render as render
from service.chatops import mattermost_verified, response_url_allowed, slack_verified
from service.hindsight import Hindsight

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
MM_TOKEN = "mm-command-token-3f9a"
BASE_URL = "https://hindsight.example.com"
INLINE_LIMIT = 3.0  # seconds: Slack drops a slash command answered later than this
DELIVERY_LIMIT = 90.0  # seconds for a background review to reach response_url (shared CI cores)
DOC_LINK = re.compile(re.escape(BASE_URL) + r"/documents/([^|>)\s]+)")


# --------------------------------------------------------------------------- fixtures


class Receiver:
    """A local HTTP server standing in for response_url: records each POSTed JSON body."""

    def __init__(self) -> None:
        self.bodies: dict[str, queue.Queue[dict[str, Any]]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                receiver.inbox(self.path).put(body)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def inbox(self, path: str) -> queue.Queue[dict[str, Any]]:
        with self.lock:
            return self.bodies.setdefault(path, queue.Queue())

    def url(self, name: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/hooks/{name}"

    def wait(self, name: str, timeout: float = DELIVERY_LIMIT) -> dict[str, Any]:
        return self.inbox(f"/hooks/{name}").get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


@pytest.fixture(scope="session")
def chat_server(tmp_path_factory: pytest.TempPathFactory, corpus_app: Hindsight) -> Iterator[str]:
    """The app under gunicorn on a copy of the corpus, with chat secrets set."""
    from tests.server import copy_store, gunicorn_server

    data = tmp_path_factory.mktemp("chat-served")
    copy_store(corpus_app.config.data_path, data)
    env = {
        "HINDSIGHT_DATA_DIR": str(data),
        "HINDSIGHT_SLACK_SIGNING_SECRET": SECRET,
        "HINDSIGHT_MATTERMOST_TOKEN": MM_TOKEN,
        "HINDSIGHT_BASE_URL": BASE_URL,
        "HINDSIGHT_CHATOPS_RESPONSE_HOSTS": "127.0.0.1",
    }
    with gunicorn_server(env, workers=1, threads=4) as base:
        yield base


def slack_form(text: str, response_url: str = "https://hooks.slack.com/commands/T1/1/x") -> str:
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": "T0001",
            "team_domain": "example",
            "channel_id": "C2147483705",
            "channel_name": "incidents",
            "user_id": "U2147483697",
            "user_name": "ada",
            "command": "/hindsight",
            "text": text,
            "api_app_id": "A123456",
            "response_url": response_url,
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
    )


def sign(body: str, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def post_slack(base: str, body: str, headers: dict[str, str]) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.post(
        base + "/chatops/slack", data=body.encode(), headers=headers, timeout=30
    )
    return response, time.monotonic() - started


def slack(base: str, text: str, **form: str) -> dict[str, Any]:
    """A signed slash command; the answer, checked to be in time and valid Block Kit."""
    body = slack_form(text, **form)
    response, took = post_slack(base, body, sign(body))
    assert response.status_code == 200, response.text
    assert took < INLINE_LIMIT, f"answered in {took:.2f} s"
    assert response.headers["Content-Type"].startswith("application/json")
    payload = response.json()
    check_block_kit(payload)
    return payload


def check_block_kit(payload: dict[str, Any]) -> None:
    """A Slack message within Block Kit's limits, every block parsed back by slack_sdk."""
    assert payload["response_type"] in ("ephemeral", "in_channel")
    assert isinstance(payload["text"], str) and payload["text"]
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()
        assert block.to_dict() == raw
        if raw["type"] == "section":
            assert len(raw["text"]["text"]) <= 3000
        if raw["type"] == "header":
            assert raw["text"]["type"] == "plain_text" and len(raw["text"]["text"]) <= 150
        if raw["type"] == "actions":
            for button in raw["elements"]:
                assert button["url"].startswith(("https://", "http://"))
                assert len(button["text"]["text"]) <= 75
    assert "Traceback" not in json.dumps(payload)


def all_text(payload: dict[str, Any]) -> str:
    """Every text and button URL of a Slack message, in order."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("text", "url") and isinstance(value, str):
                    out.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(payload.get("blocks", []))
    return "\n".join(out)


def doc_ids(text: str) -> list[str]:
    return [unquote(x) for x in DOC_LINK.findall(text)]


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# --------------------------------------------------------------------------- Slack: answers


def test_help_and_empty_text_explain_the_commands(chat_server: str) -> None:
    for text in ("", "help", "  HELP  "):
        payload = slack(chat_server, text)
        assert payload["response_type"] == "ephemeral"
        body = all_text(payload)
        for sub in ("search <words>", "review <plan>", "incident <id>"):
            assert f"/hindsight {sub}" in unescape(body)


def test_search_answers_inline_with_links(chat_server: str, corpus_app: Hindsight) -> None:
    query = "database failover split brain"
    payload = slack(chat_server, f"search {query}")
    assert payload["response_type"] == "in_channel"
    expected = [r["id"] for r in corpus_app.search(query, k=10).as_dict()["results"]]
    assert expected
    text = all_text(payload)
    # Each shown result links to its page; the button links to the full search.
    assert doc_ids(text) == expected[: render.SHOWN["results"]]
    assert f"{BASE_URL}/?q=database+failover+split+brain" in text
    assert payload["blocks"][0]["type"] == "header"
    assert query in payload["blocks"][0]["text"]["text"]


def test_search_without_matches_or_words_is_helpful(chat_server: str) -> None:
    payload = slack(chat_server, "search")
    assert payload["response_type"] == "ephemeral"
    assert "Type a few words after search" in all_text(payload)
    payload = slack(chat_server, "search !!! ???")
    assert payload["response_type"] == "ephemeral"
    assert "no letters or digits" in all_text(payload)


def test_incident_shows_one_document(chat_server: str, corpus_app: Hindsight) -> None:
    doc_id = corpus_app.search("certificate expired", k=1).results[0]["id"]
    doc = corpus_app.document(doc_id)
    assert doc is not None
    payload = slack(chat_server, f"incident {doc_id}")
    assert payload["response_type"] == "in_channel"
    assert payload["blocks"][0]["text"]["text"] == render.clip(doc["title"], 150)
    text = all_text(payload)
    assert f"{BASE_URL}/documents/{doc_id}" in text
    for mode in doc["modes"][:8]:
        assert f"`{mode['id']}`" in text


def test_unknown_incident_suggests_ids(chat_server: str) -> None:
    payload = slack(chat_server, "incident no-such-incident-2099")
    assert payload["response_type"] == "ephemeral"
    assert "No incident has the id" in all_text(payload)
    payload = slack(chat_server, "incident")
    assert "Give an incident id" in all_text(payload)


def test_unknown_subcommand_answers_with_usage(chat_server: str) -> None:
    payload = slack(chat_server, "deploy the thing")
    assert payload["response_type"] == "ephemeral"
    text = unescape(all_text(payload))
    assert "There is no `deploy` command" in text
    assert "/hindsight search <words>" in text


def test_long_search_is_refused_readably(chat_server: str) -> None:
    payload = slack(chat_server, "search " + "word " * 2000)
    assert payload["response_type"] == "ephemeral"
    text = all_text(payload)
    assert "the limit is 2000" in text and "/hindsight help" in text


def test_link_button_clicks_are_acknowledged(chat_server: str) -> None:
    body = urlencode({"payload": json.dumps({"type": "block_actions", "actions": []})})
    response, _ = post_slack(chat_server, body, sign(body))
    assert response.status_code == 200 and response.content == b""


# --------------------------------------------------------------------------- Slack: refusals


def test_refused_requests_get_401_with_an_empty_body(chat_server: str) -> None:
    body = slack_form("search outage")
    now = int(time.time())
    cases = {
        "wrong secret": (body, sign(body, secret="not-the-secret")),
        "six minutes old": (body, sign(body, timestamp=now - 360)),
        "six minutes ahead": (body, sign(body, timestamp=now + 360)),
        "replayed with other text": (slack_form("search something else"), sign(body)),
        "no signature": (body, {"Content-Type": "application/x-www-form-urlencoded"}),
        "timestamp not a number": (body, sign(body) | {"X-Slack-Request-Timestamp": "soon"}),
        "signature of another timestamp": (
            body,
            sign(body, timestamp=now - 10) | {"X-Slack-Request-Timestamp": str(now)},
        ),
    }
    for name, (sent, headers) in cases.items():
        response, _ = post_slack(chat_server, sent, headers)
        assert response.status_code == 401, name
        assert response.content == b"", name
    # Inside the window, the same body is accepted.
    response, _ = post_slack(chat_server, body, sign(body, timestamp=now - 240))
    assert response.status_code == 200


def test_verifiers_refuse_when_no_secret_is_set() -> None:
    body = b"text=help"
    headers = sign(body.decode(), secret="anything")
    ts, sig = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    assert slack_verified("anything", body, ts, sig)
    assert not slack_verified("", body, ts, sig)
    assert not slack_verified("anything", b"\xff\xfe", ts, sig)
    assert mattermost_verified("tok", "Token tok", {})
    assert mattermost_verified("tok", None, {"token": "tok"})
    assert not mattermost_verified("", "Token ", {"token": ""})
    assert not mattermost_verified("tok", "Token tok2", {"token": "tok"})


def test_response_url_hosts() -> None:
    assert response_url_allowed("https://hooks.slack.com/commands/1/2/3", "hooks.slack.com")
    assert response_url_allowed("http://127.0.0.1:9/x", "hooks.slack.com, 127.0.0.1")
    assert not response_url_allowed("https://hooks.slack.com.evil.test/x", "hooks.slack.com")
    assert not response_url_allowed("file:///etc/passwd", "hooks.slack.com")
    assert not response_url_allowed("https://evil.test/x", "")
    assert not response_url_allowed("http://[127.0.0.1/x", "127.0.0.1")  # unparseable


# --------------------------------------------------------------------------- Slack: review


PLAN = (
    "Tonight we roll out the new connection pool settings to every database replica at once, "
    "raising max connections from 200 to 2000, and restart all API pods together. "
    "We will also rotate the TLS certificate on the load balancer during the same window."
)


def test_review_is_acknowledged_then_delivered_to_response_url(
    chat_server: str, receiver: Receiver, corpus_app: Hindsight
) -> None:
    payload = slack(chat_server, f"review {PLAN}", response_url=receiver.url("slack-review"))
    assert payload["response_type"] == "ephemeral"
    assert "Reviewing your plan" in all_text(payload)

    delivered = receiver.wait("slack-review")
    check_block_kit(delivered)
    assert delivered["response_type"] == "in_channel"
    expected = corpus_app.review(PLAN, k=5).as_dict()  # what POST /api/v1/review answers
    text = all_text(delivered)
    assert expected["risks"], "the plan should raise risks on the bundled corpus"
    shown_risks = expected["risks"][: render.SHOWN["risks"]]
    risk_blocks = [
        b["text"]["text"]
        for b in delivered["blocks"]
        if b["type"] == "section" and b["text"]["text"][:1] in render.LEVEL_MARK.values()
    ]
    assert [re.findall(r"`([^`]+)`", t)[0] for t in risk_blocks] == [r["mode"] for r in shown_risks]
    for block, risk in zip(risk_blocks, shown_risks, strict=True):
        assert block.startswith(f"{render.LEVEL_MARK[risk['level']]} *{risk['level'].upper()}*")
    linked = set(doc_ids(text))
    wanted = {i["id"] for i in expected["incidents"][: render.SHOWN["incidents"]]}
    wanted |= {b["id"] for b in expected["runbooks"][: render.SHOWN["runbooks"]]}
    wanted |= {x for r in shown_risks for x in r["incidents"][:5]}
    assert linked == wanted
    for gap in expected["gaps"][: render.SHOWN["gaps"]]:
        assert f"`{gap['id']}`" in text
    for entry in expected["checklist"][: render.SHOWN["checklist"]]:
        assert render.clip(entry["item"], 300) in unescape(text)
    assert f"{BASE_URL}/review" in text


def test_ten_thousand_character_plan(chat_server: str, receiver: Receiver) -> None:
    plan = (PLAN + " ") * (10_000 // (len(PLAN) + 1) + 1)
    plan = plan[:9_999] + "."
    payload = slack(chat_server, f"review {plan}", response_url=receiver.url("slack-long"))
    assert payload["response_type"] == "ephemeral"
    assert "10,000 characters" in all_text(payload)
    delivered = receiver.wait("slack-long")
    check_block_kit(delivered)
    assert len(json.dumps(delivered)) < 40_000


def test_review_without_a_plan_or_allowed_host(chat_server: str, receiver: Receiver) -> None:
    payload = slack(chat_server, "review   ")
    assert payload["response_type"] == "ephemeral"
    assert "Paste the change plan after review" in all_text(payload)

    # "localhost" is the same receiver, but not an allowed host: nothing is posted there.
    payload = slack(chat_server, f"review {PLAN}", response_url=receiver.url("stray", "localhost"))
    assert payload["response_type"] == "ephemeral"
    assert "HINDSIGHT_CHATOPS_RESPONSE_HOSTS" in all_text(payload)
    with pytest.raises(queue.Empty):
        receiver.wait("stray", timeout=2)


def test_over_long_plan_is_refused_at_once(chat_server: str, receiver: Receiver) -> None:
    payload = slack(chat_server, "review " + "x" * 25_000, response_url=receiver.url("too-long"))
    assert payload["response_type"] == "ephemeral"
    text = all_text(payload)
    assert "25,000 characters; the limit is 20,000" in text and f"{BASE_URL}/review" in text
    with pytest.raises(queue.Empty):
        receiver.wait("too-long", timeout=1)


# --------------------------------------------------------------------------- Mattermost


def post_mattermost(
    base: str, text: str, token: str | None = MM_TOKEN, *, header: bool = True, **extra: str
) -> tuple[requests.Response, float]:
    form = {
        "channel_id": "fdsafdsafdsafdsafdsafdsafd",
        "channel_name": "town-square",
        "command": "/hindsight",
        "team_domain": "example",
        "text": text,
        "user_name": "ada",
        **extra,
    }
    headers = {}
    if token is not None:
        form["token"] = token
        if header:
            headers["Authorization"] = f"Token {token}"
    started = time.monotonic()
    response = requests.post(base + "/chatops/mattermost", data=form, headers=headers, timeout=30)
    return response, time.monotonic() - started


def test_mattermost_search_in_its_format(chat_server: str, corpus_app: Hindsight) -> None:
    query = "expired certificate outage"
    for header in (True, False):  # the Authorization header, or the token field alone
        response, took = post_mattermost(chat_server, f"search {query}", header=header)
        assert response.status_code == 200 and took < INLINE_LIMIT
        payload = response.json()
        assert set(payload) == {"response_type", "text"}
        assert payload["response_type"] == "in_channel"
        expected = [r["id"] for r in corpus_app.search(query, k=10).as_dict()["results"]]
        assert doc_ids(payload["text"]) == expected[: render.SHOWN["results"]]
        assert payload["text"].startswith("#### Search: ")
        assert "<" not in payload["text"]  # Markdown links, not Slack's <url|text>


def test_mattermost_help_and_unknown(chat_server: str) -> None:
    for text in ("", "frobnicate"):
        response, _ = post_mattermost(chat_server, text)
        assert response.status_code == 200
        payload = response.json()
        assert payload["response_type"] == "ephemeral"
        assert "`/hindsight review <plan>`" in payload["text"]


def test_mattermost_wrong_token_is_refused(chat_server: str) -> None:
    for token, header in (("wrong", True), ("wrong", False), (None, False), ("", True)):
        response, _ = post_mattermost(chat_server, "search outage", token, header=header)
        assert response.status_code == 401
        assert response.content == b""
    response = requests.post(
        chat_server + "/chatops/mattermost",
        data={"text": "help", "token": MM_TOKEN},
        headers={"Authorization": "Token wrong"},
        timeout=30,
    )
    assert response.status_code == 401  # the header wins over the form field


def test_mattermost_review_delivered(
    chat_server: str, receiver: Receiver, corpus_app: Hindsight
) -> None:
    response, took = post_mattermost(
        chat_server, f"review {PLAN}", response_url=receiver.url("mm-review")
    )
    assert response.status_code == 200 and took < INLINE_LIMIT
    assert response.json()["response_type"] == "ephemeral"
    delivered = receiver.wait("mm-review")
    assert set(delivered) == {"response_type", "text"}
    expected = corpus_app.review(PLAN, k=5).as_dict()
    for risk in expected["risks"][: render.SHOWN["risks"]]:
        assert f"`{risk['mode']}`" in delivered["text"]
    assert len(delivered["text"]) <= render.MATTERMOST_CHARS


# --------------------------------------------------------------------------- renderers


def _huge_review() -> dict[str, Any]:
    long = "very long text <!channel> & more " * 200
    return {
        "risks": [
            {
                "mode": f"mode-{i}",
                "name": long,
                "axis": "change",
                "level": ["high", "medium", "low"][i % 3],
                "confidence": 0.5,
                "reasons": [long, long],
                "incidents": [f"doc-{j}" for j in range(30)],
            }
            for i in range(120)
        ],
        "incidents": [
            {
                "id": f"doc-{i}",
                "title": long,
                "org": "Org",
                "url": None,
                "score": 0.4,
                "snippet": long,
            }
            for i in range(100)
        ],
        "runbooks": [{"id": f"rb-{i}", "title": long, "url": None, "modes": []} for i in range(50)],
        "checklist": [{"item": long, "mode": "m", "source": "x"} for _ in range(200)],
        "gaps": [{"id": f"gap-{i}", "message": long} for i in range(50)],
    }


def test_huge_answers_stay_within_platform_limits() -> None:
    links = render.Links(BASE_URL)
    review = _huge_review()
    slack_body = render.to_slack(
        render.review_message(review, "plan " * 5000, links, render.SLACK_MARKUP)
    )
    check_block_kit(slack_body)
    text = all_text(slack_body)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "Showing 8 of 120 risks" in text
    mm = render.to_mattermost(
        render.review_message(review, "plan", links, render.MATTERMOST_MARKUP)
    )
    assert len(mm["text"]) <= render.MATTERMOST_CHARS
    assert "@channel" not in mm["text"]

    # More parts than Slack allows blocks: the tail becomes a link to the page.
    msg = render.Message(fallback="x", more_url=f"{BASE_URL}/review")
    msg.parts = [render.Section(f"part {i}") for i in range(80)]
    body = render.to_slack(msg)
    check_block_kit(body)
    assert len(body["blocks"]) == 50
    assert body["blocks"][-1]["elements"][0]["url"] == f"{BASE_URL}/review"


def test_titles_cannot_mention_or_break_links() -> None:
    links = render.Links(BASE_URL)
    result = {
        "query": "q",
        "results": [
            {
                "id": "a b|c",
                "kind": "postmortem",
                "title": "Outage <@U123> | *bold* [x](http://evil.test) @here",
                "org": "Org",
                "date": "2024-01-01",
                "snippet": "s > t",
                "section": None,
                "modes": [],
            }
        ],
        "took_ms": 3.0,
    }
    slack_body = render.to_slack(render.search_message(result, links, render.SLACK_MARKUP))
    check_block_kit(slack_body)
    section = slack_body["blocks"][2]["text"]["text"]
    assert section.startswith(f"<{BASE_URL}/documents/a%20b%7Cc|Outage &lt;@U123&gt; | ")
    mm = render.to_mattermost(render.search_message(result, links, render.MATTERMOST_MARKUP))
    assert f"]({BASE_URL}/documents/a%20b%7Cc)" in mm["text"]
    assert "\\[x\\](http://evil.test)" in mm["text"] and "@here" not in mm["text"]
