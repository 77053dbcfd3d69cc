"""Alert routes as written (the registry and JAFFLE_ALERTS_<OWNER>), and a route's delivery: retries with
a doubling backoff on what may pass, none on what will not, each attempt logged; a real HTTP server and a
real mail server (aiosmtpd) on 127.0.0.1 answer. (tests/faults/test_alerts.py routes real failures through
a real platform.)"""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
from pathlib import Path

import pytest
from jaffle_ops import alerts

ROOT = Path(__file__).resolve().parents[2]


def test_a_route_is_a_webhook_a_slack_webhook_or_a_block_and_anything_else_is_named():
    assert alerts.parse("https://example.com/hook") == alerts.Route(
        "https://example.com/hook", "json", "https://example.com/hook"
    )
    assert alerts.parse("https://hooks.slack.com/services/T/B/X").style == "slack"
    assert alerts.parse("slack+http://127.0.0.1:9/x") == alerts.Route(
        "slack+http://127.0.0.1:9/x", "slack", "http://127.0.0.1:9/x"
    )
    assert alerts.parse("block:sendgrid-email/ml-team").block == "sendgrid-email/ml-team"
    assert alerts.parse("https://hooks.slack.com/services/T/B/X").shown == "slack webhook at hooks.slack.com"
    with pytest.raises(ValueError, match="alert route 'ftp://x' of ml-forecast is not an http"):
        alerts.parse("ftp://x", "ml-forecast")


def test_an_owners_routes_come_from_its_registry_entry_then_its_variable(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.jaffle]\nalerts = ["https://example.com/a"]\n')
    monkeypatch.setenv("JAFFLE_ALERTS_ML_FORECAST", "slack+https://example.com/b, https://example.com/c")
    found = alerts.routes(ROOT, "ml-forecast", tmp_path)
    assert [(r.style, r.url) for r in found] == [
        ("json", "https://example.com/a"),
        ("slack", "https://example.com/b"),
        ("json", "https://example.com/c"),
    ]
    assert set(alerts.owners(ROOT)) == {"ingestion", "dbt-transform", "ml-forecast", "dashboards", "platform"}


class Answers(http.server.ThreadingHTTPServer):
    """Answers each POST with the next status of `statuses` (the last one from then on)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses, self.bodies = list(statuses), []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                status = server.statuses.pop(0) if len(server.statuses) > 1 else server.statuses[0]
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


def _deliver(url: str, attempts: int = 4) -> str:
    return asyncio.run(alerts.deliver(alerts.parse(url), "subject", "text", "ml-forecast", attempts, 0.01))


def test_a_delivery_retries_what_may_pass_and_stops_at_what_will_not(caplog):
    flaky = Answers(503, 500, 200)
    assert _deliver(flaky.url) == "" and len(flaky.bodies) == 3
    assert sum("attempt" in r.message and "failed: HTTP 5" in r.message for r in caplog.records) == 2
    refused = Answers(404)
    assert _deliver(refused.url) == "HTTP 404" and len(refused.bodies) == 1  # no retry of a 404
    down = Answers(500)
    assert _deliver(down.url, attempts=3) == "HTTP 500" and len(down.bodies) == 3
    down.shutdown()
    down.server_close()
    assert _deliver(down.url, attempts=2).startswith("ConnectError")  # nobody listens any more


def test_a_route_that_gives_up_sends_the_alert_to_the_platform_team_naming_itself():
    from prefect.blocks.abstract import NotificationError
    from pydantic import SecretStr

    broken, platform = Answers(500), Answers(200)
    route = alerts.AlertRoute(
        owner="ml-forecast",
        url=SecretStr(broken.url),
        attempts=2,
        backoff_seconds=0.01,
        fallback=[SecretStr(platform.url)],
    )
    with pytest.raises(NotificationError) as failed:
        asyncio.run(route.notify("the forecast failed", "[ml-forecast] sales-forecast ended Failed"))
    assert "sent to the platform team's json webhook at 127.0.0.1" in failed.value.log
    (sent,) = platform.bodies
    assert b"alert route ml-forecast failed: [ml-forecast] sales-forecast ended Failed" in sent
    assert b"failed after 2 attempt(s): HTTP 500" in sent and b"the forecast failed" in sent


class Mailbox:
    """A mail server on 127.0.0.1 that keeps every message it accepts, or answers `refuse` (e.g. "550 ...")
    to each; `route(to)` is the alert route to it."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list = []
        self.refuse = ""
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope) -> str:
                if box.refuse:
                    return box.refuse
                from email import message_from_bytes, policy

                box.messages.append(
                    (envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default))
                )
                return "250 OK"

        with socket.socket() as free:  # the controller checks it is up by connecting: a real port
            free.bind(("127.0.0.1", 0))
            self.port = free.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def route(self, to: str = "ml-team@example.com") -> str:
        return f"smtp://127.0.0.1:{self.port}/{to}?from=alerts@example.com"

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def mailbox():
    box = Mailbox()
    yield box
    box.stop()


def test_a_mail_route_sends_the_alert_as_an_email_and_retries_only_what_may_pass(mailbox, caplog):
    route = alerts.parse(mailbox.route("ml-team@example.com,oncall@example.com"))
    assert route.style == "email" and route.shown.startswith(
        "email to ml-team@example.com,oncall@example.com via"
    )
    assert _deliver(route.spec) == ""
    ((to, message),) = mailbox.messages
    assert to == ["ml-team@example.com", "oncall@example.com"]
    assert message["Subject"] == "subject" and message["From"] == "alerts@example.com"
    assert message.get_content().strip() == "text"
    mailbox.refuse = "451 try again later"  # a 4xx: retried
    assert _deliver(route.spec, attempts=3) == "SMTP 451: try again later"
    assert sum("failed: SMTP 451" in r.message for r in caplog.records) == 3
    mailbox.refuse = "550 no such mailbox"  # a 5xx: final
    assert _deliver(route.spec, attempts=3) == "SMTP 550: no such mailbox"
    assert sum("failed: SMTP 550" in r.message for r in caplog.records) == 1
    with pytest.raises(ValueError, match="smtp://host/to@address"):
        alerts.parse("smtp://127.0.0.1:25/")  # no recipient


def test_a_webhook_that_gives_up_falls_back_to_the_platform_teams_mail_route(mailbox):
    from prefect.blocks.abstract import NotificationError
    from pydantic import SecretStr

    broken = Answers(503)
    route = alerts.AlertRoute(
        owner="dashboards",
        url=SecretStr(broken.url),
        attempts=2,
        backoff_seconds=0.01,
        fallback=[SecretStr(mailbox.route("platform@example.com"))],
    )
    with pytest.raises(NotificationError) as failed:
        asyncio.run(route.notify("the page failed", "[dashboards] dashboards ended Failed"))
    assert "sent to the platform team's email to platform@example.com via 127.0.0.1" in failed.value.log
    ((to, message),) = mailbox.messages
    assert to == ["platform@example.com"]
    assert (
        message["Subject"] == "[platform] alert route dashboards failed: [dashboards] dashboards ended Failed"
    )
    assert "failed after 2 attempt(s): HTTP 503" in message.get_content()
