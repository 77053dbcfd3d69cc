"""Alert routes: where each owner's failure alerts go, made into Prefect blocks and automations.

An owner is a team (its package's name) or the platform team (`jaffle_contract.alerts.PLATFORM`, the
parent flows'). Its routes are its `[tool.jaffle] alerts` list (the package's pyproject.toml; the root's
for the platform team) followed by the URLs in `JAFFLE_ALERTS_<OWNER>` (comma-separated; a webhook URL
is a secret, so it usually lives in the environment, not in git). A route is written as:

- `https://hooks.slack.com/...` or `slack+https://host/path`: a Slack-compatible webhook (`{"text": ...}`);
- `https://host/path` (or `http://`): a JSON webhook (`{"subject", "text", "owner"}`);
- `smtp://[user:password@]host[:port]/to@example.com[,...][?from=...&starttls=1]` (or `smtps://`, TLS
  from the start): an email through a mail server;
- `block:<block-type-slug>/<name>`: a notification block made in Prefect (SendGrid email, Teams, ...).

`ensure` (run by `./dev up` and `./dev deploy`) saves each webhook or mail route as an `AlertRoute` block
named `alert-<owner>-<n>` and one automation per owner, `alerts: <owner>`, that sends each alert event of that
owner through its routes; a team without routes of its own uses the platform team's. Again, it changes
nothing; a changed route is updated, a removed one deleted.

An `AlertRoute` retries a failed delivery (no answer, HTTP 429 or 5xx, SMTP 4xx) with a doubling
backoff, logging each attempt; when it gives up, it sends the alert, naming the route that failed,
through the platform team's routes, then fails (the automation's action shows it failed). This module
is a Prefect collection (ops' entry point `prefect.collections`), so the server loads the block type to
run its automations.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx
from jaffle_contract import alerts
from prefect.blocks.abstract import NotificationBlock, NotificationError
from pydantic import Field, SecretStr

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.events.schemas.automations import AutomationCore

    from jaffle_ops.local import Platform

logger = logging.getLogger("jaffle.alerts")
AUTOMATION_PREFIX = "alerts: "
BLOCK_PREFIX = "alert-"
Style = Literal["json", "slack", "email"]
MAIL_SCHEMES = ("smtp", "smtps")


@dataclass(frozen=True)
class Route:
    """One route as written: a webhook (`style`, `url`) or a Prefect block (`block`: slug/name)."""

    spec: str
    style: Style | None = None
    url: str = ""
    block: str = ""

    @property
    def shown(self) -> str:
        """The route without its secret parts (a webhook's path is its key)."""
        if self.block:
            return f"block {self.block}"
        where = urlsplit(self.url)
        if self.style == "email":
            return f"email to {where.path.strip('/')} via {where.hostname}:{where.port or ''}".rstrip(":")
        return f"{self.style} webhook at {where.netloc}"


def parse(spec: str, owner: str = "") -> Route:
    spec = spec.strip()
    if spec.startswith("block:") and "/" in spec:
        return Route(spec, block=spec.removeprefix("block:"))
    if spec.startswith("slack+http"):
        return Route(spec, "slack", spec.removeprefix("slack+"))
    if spec.startswith(("http://", "https://")):
        slack = urlsplit(spec).netloc == "hooks.slack.com"
        return Route(spec, "slack" if slack else "json", spec)
    where = urlsplit(spec)
    if where.scheme in MAIL_SCHEMES and where.hostname and "@" in where.path:
        return Route(spec, "email", spec)
    raise ValueError(
        f"alert route {spec!r}{f' of {owner}' if owner else ''} is not an http(s) URL, slack+URL, "
        "smtp://host/to@address or block:<block-type>/<name> (docs/alerts.md)"
    )


def routes(root: Path, owner: str, package: Path | None = None) -> list[Route]:
    """An owner's routes: its `[tool.jaffle] alerts`, then `JAFFLE_ALERTS_<OWNER>`."""
    project = (package or root) / "pyproject.toml"
    config = tomllib.loads(project.read_text()) if project.exists() else {}
    written = list(config.get("tool", {}).get("jaffle", {}).get("alerts", []))
    given = os.environ.get(alerts.routes_variable(owner), "").replace(",", " ").split()
    return [parse(spec, owner) for spec in [*written, *given]]


def owners(root: Path) -> dict[str, Path | None]:
    """Every owner and the package its routes are written in: the teams, then the platform team."""
    from jaffle_ops.workspace import COORDINATOR, teams

    found: dict[str, Path | None] = {
        team.env: team.package for team in teams(root) if team.env != COORDINATOR
    }
    return {**found, alerts.PLATFORM: None}


async def deliver(route: Route, subject: str, text: str, owner: str, attempts: int, backoff: float) -> str:
    """Send one alert through a webhook or mail route, retrying what may pass (no answer, HTTP 429 or 5xx,
    SMTP 4xx) with a doubling backoff; '' when it arrived, else why not. Each attempt is logged."""
    why = ""
    async with httpx.AsyncClient(timeout=10) as client:
        for attempt in range(1, attempts + 1):
            if route.style == "email":
                why, retry = await asyncio.to_thread(_mail, route.url, subject, text)
            else:
                why, retry = await _post(client, route, subject, text, owner)
            if not why:
                logger.info("alert route %s (%s): delivered, attempt %d", owner, route.shown, attempt)
                return ""
            logger.warning(
                "alert route %s (%s): attempt %d of %d failed: %s", owner, route.shown, attempt, attempts, why
            )
            if not retry:
                break
            if attempt < attempts:
                await asyncio.sleep(backoff * 2 ** (attempt - 1))
    return why


async def _post(
    client: httpx.AsyncClient, route: Route, subject: str, text: str, owner: str
) -> tuple[str, bool]:
    """One POST to a webhook: ('', _) when it arrived, else (why, whether a retry may pass)."""
    body: dict[str, Any] = (
        {"text": f"*{subject}*\n{text}"}
        if route.style == "slack"
        else {"subject": subject, "text": text, "owner": owner}
    )
    try:
        answer = await client.post(route.url, json=body)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}".rstrip(": "), True
    if answer.is_success:
        return "", False
    return f"HTTP {answer.status_code}", answer.status_code == 429 or answer.status_code >= 500


def _mail(url: str, subject: str, text: str) -> tuple[str, bool]:
    """One email through the route's mail server: ('', _) when it took it, else (why, whether a retry may
    pass: no answer, or a 4xx reply; a 5xx reply is final)."""
    import smtplib
    from email.message import EmailMessage
    from urllib.parse import parse_qs, unquote

    where = urlsplit(url)
    options = {key: values[-1] for key, values in parse_qs(where.query).items()}
    message = EmailMessage()
    message["Subject"], message["To"] = subject, where.path.strip("/")
    message["From"] = options.get("from", f"jaffle-alerts@{where.hostname}")
    message.set_content(text)
    secure = where.scheme == "smtps"
    kind = smtplib.SMTP_SSL if secure else smtplib.SMTP
    try:
        with kind(where.hostname or "", where.port or (465 if secure else 25), timeout=10) as server:
            if options.get("starttls") == "1":
                server.starttls()
            if where.username:
                server.login(unquote(where.username), unquote(where.password or ""))
            server.send_message(message)
    except smtplib.SMTPResponseException as error:
        said = (
            error.smtp_error.decode(errors="replace")
            if isinstance(error.smtp_error, bytes)
            else error.smtp_error
        )
        return f"SMTP {error.smtp_code}: {said}", 400 <= error.smtp_code < 500
    except (smtplib.SMTPException, OSError) as error:
        return f"{type(error).__name__}: {error}".rstrip(": "), True
    return "", False


class AlertRoute(NotificationBlock):
    """A webhook or mail route of one owner's alerts, with retries and the platform team's routes as
    fallback."""

    _block_type_name = "Jaffle alert route"
    _block_type_slug = "jaffle-alert-route"
    _description = (
        "Where an owner's failure alerts go (a JSON or Slack-compatible webhook, or email), with retries."
    )

    owner: str = Field(description="The team whose alerts it carries")
    url: SecretStr = Field(description="The webhook's URL, or the mail route (smtp://host/to@address)")
    style: Style = Field("json", description="json: {subject, text, owner}; slack: {text}; email")
    attempts: int = Field(4, ge=1, le=10, description="Deliveries tried before the fallback")
    backoff_seconds: float = Field(2.0, ge=0, le=60, description="Wait before the second try; doubles")
    fallback: list[SecretStr] = Field(
        default_factory=list, description="The platform team's routes, for when this one fails"
    )

    def route(self) -> Route:
        return Route("", self.style, self.url.get_secret_value())

    async def notify(self, body: str, subject: str | None = None) -> None:
        subject = subject or "Prefect alert"
        why = await deliver(self.route(), subject, body, self.owner, self.attempts, self.backoff_seconds)
        if not why:
            return
        failed = (
            f"the alert route {self.owner} ({self.route().shown}) failed after {self.attempts} "
            f"attempt(s): {why}"
        )
        reached = []
        for spec in self.fallback:
            fallback = parse(spec.get_secret_value())
            text = f"{failed}. The alert it carried:\n\n{subject}\n{body}"
            heading = f"[{alerts.PLATFORM}] alert route {self.owner} failed: {subject}"
            if not await deliver(
                fallback, heading, text, alerts.PLATFORM, self.attempts, self.backoff_seconds
            ):
                reached.append(fallback.shown)
        sent = f"; sent to the platform team's {', '.join(reached)}" if reached else "; no fallback reached"
        raise NotificationError(log=failed + sent)


def block_name(owner: str, number: int) -> str:
    return f"{BLOCK_PREFIX}{owner}-{number}"


def load_route(name: str) -> AlertRoute | None:
    """The saved route block `name` (in the current Prefect settings' API), or None."""
    try:
        found = AlertRoute.load(name)
    except ValueError:  # no block of that name
        return None
    assert isinstance(found, AlertRoute)
    return found


def saved_routes(owner: str) -> list[AlertRoute]:
    """The owner's saved route blocks, in order."""
    found: list[AlertRoute] = []
    while route := load_route(block_name(owner, len(found) + 1)):
        found.append(route)
    return found


def _fields(block: AlertRoute) -> dict[str, Any]:
    shown = block.model_dump(include={"owner", "style", "attempts", "backoff_seconds"})
    return {
        **shown,
        "url": block.url.get_secret_value(),
        "fallback": [spec.get_secret_value() for spec in block.fallback],
    }


def automation(owner: str, block_ids: list[Any]) -> AutomationCore:
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    return AutomationCore(
        name=f"{AUTOMATION_PREFIX}{owner}",
        description=f"Send {owner}'s alerts (events {alerts.EVERY}) through its routes.",
        trigger=EventTrigger(
            expect={alerts.EVERY},
            match={alerts.OWNER: owner},
            posture=Posture.Reactive,
            threshold=1,
            within=0,
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="{{ event.payload.subject }}",
                body="{{ event.payload.text }}",
            )
            for block_id in block_ids
        ],
    )


def ensure(platform: Platform, client: SyncPrefectClient) -> list[str]:
    """Every owner's route blocks and automation, as the registry and environment say; what changed."""
    from prefect.exceptions import ObjectNotFound

    from jaffle_ops import admin, recovery

    changed: list[str] = []
    with admin.targeting(platform):
        AlertRoute.register_type_and_schema()
        platform_routes = routes(platform.root, alerts.PLATFORM)
        for owner, package in owners(platform.root).items():
            own = routes(platform.root, owner, package)
            fallback = [] if owner == alerts.PLATFORM or not own else platform_routes
            ids = []
            for number, route in enumerate(own or platform_routes, start=1):
                if route.block:
                    slug, _, name = route.block.partition("/")
                    try:
                        ids.append(client.read_block_document_by_name(name, slug).id)
                    except ObjectNotFound:
                        raise ValueError(f"alert route {route.spec} of {owner}: no such block") from None
                    continue
                wanted = AlertRoute(
                    owner=owner,
                    url=SecretStr(route.url),
                    style=route.style or "json",
                    fallback=[SecretStr(r.spec) for r in fallback if not r.block],
                )
                name = block_name(owner, number)
                saved = load_route(name)
                if saved is None or _fields(saved) != _fields(wanted):
                    wanted.save(name, overwrite=True)
                    changed.append(f"block {name}")
                ids.append(client.read_block_document_by_name(name, AlertRoute.get_block_type_slug()).id)
            number = len(own or platform_routes)
            while True:  # the routes removed since: the blocks numbered after the last
                number += 1
                try:
                    stale = client.read_block_document_by_name(
                        block_name(owner, number), AlertRoute.get_block_type_slug()
                    )
                except ObjectNotFound:
                    break
                client.delete_block_document(stale.id)
                changed.append(f"block {block_name(owner, number)} removed")
            name = f"{AUTOMATION_PREFIX}{owner}"
            if ids:
                if recovery.ensure_automation(client, automation(owner, ids)):
                    changed.append(f"automation {name}")
            else:
                for found in client.read_automations_by_name(name):
                    client.delete_automation(found.id)
                    changed.append(f"automation {name} removed")
    return changed
