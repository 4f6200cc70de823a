"""{{name}}: a sam spoke for the Example Seats API, in Python (componentize-py).

It lists the tenant's seats (`GET /v1/seats`, cursor paging), reads each seat's last activity
from the same listing, takes a seat back (`DELETE /v1/seats/{user_id}`) and gives it back
(`POST /v1/seats`), and reports the vendor's seat counts (`GET /v1/plans`). The engine adds
the bearer token to every request, keeps the spoke to its allowed hosts and retries 429/5xx;
every call runs in a fresh instance, so nothing is kept between calls (the cursor carries the
position).
"""

import json
from datetime import datetime
from typing import List, Optional
from urllib.parse import quote

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import http, log
from wit_world.imports.types import (
    AccountType,
    ActivityPage,
    ActivitySeen,
    ActivitySource,
    ActivityStatus_NoneInWindow,
    ActivityStatus_NoneOrNever,
    ActivityStatus_Seen,
    ActivityStatus_Unknown,
    AuthScheme_BearerToken,
    Config,
    ConfigField,
    Forbidden,
    GroupPage,
    Manifest,
    Process,
    ProcessPermission,
    Product,
    RateLimited,
    SeatChange,
    SpokeError_Forbidden,
    SpokeError_InvalidConfig,
    SpokeError_NotFound,
    SpokeError_RateLimited,
    SpokeError_Transient,
    SpokeError_Unauthorized,
    SpokeError_Vendor,
    Subscription,
    SubscriptionPage,
    SubscriptionRef,
    UserActivity,
    ValidationCheck,
    VendorSeatCount,
)

PAGE_SIZE = 100
# Our cursor: the vendor's cursor behind a version prefix, so a stale or foreign cursor is
# refused as invalid config instead of being sent on.
CURSOR_PREFIX = "v1:"
SEAT_REMOVED = "seat-removed"
SCOPE_READ = "seats:read"
SCOPE_WRITE = "seats:write"


def fail(error):
    """Ends the call with a typed spoke-error."""
    raise Err(error)


def header(response: http.Response, name: str) -> Optional[str]:
    for key, value in response.headers:
        if key.lower() == name:
            return value
    return None


def call(method: http.Method, path: str, query=None, body=None, accept=(200,)):
    """Sends one JSON request; returns (status, parsed body or None). Statuses outside
    `accept` become the matching spoke-error."""
    headers = [("accept", "application/json")]
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers.append(("content-type", "application/json"))
    request = http.Request(method=method, path=path, query=query or [], headers=headers, body=data)
    try:
        response = http.send(request)
    except Err as e:
        error = e.value
        if isinstance(error, http.HttpError_Timeout):
            fail(SpokeError_Transient("the vendor did not answer in time"))
        if isinstance(error, http.HttpError_Connection):
            fail(SpokeError_Transient(f"cannot reach the vendor: {error.value}"))
        if isinstance(error, http.HttpError_Denied):
            fail(SpokeError_Vendor(f"the engine refused the request: {error.value}"))
        fail(SpokeError_Vendor("the vendor's answer was too large"))
    status = response.status
    try:
        parsed = json.loads(response.body) if response.body else None
    except ValueError:
        parsed = None
    if status in accept:
        return status, parsed
    detail = parsed if isinstance(parsed, dict) else {}
    what = f"{method.name} {path}: HTTP {status} {detail.get('error', '')}".strip()
    if status == 401:
        fail(SpokeError_Unauthorized(what))
    if status == 403:
        fail(SpokeError_Forbidden(Forbidden(message=what, missing_scope=detail.get("missing_scope"))))
    if status == 404:
        fail(SpokeError_NotFound(what))
    if status == 429:
        retry = header(response, "retry-after")
        seconds = int(retry) if retry and retry.isdigit() else None
        fail(SpokeError_RateLimited(RateLimited(message=what, retry_after_seconds=seconds)))
    if status == 400:
        fail(SpokeError_InvalidConfig(f"{what}: {detail.get('message', '')}"))
    if status >= 500:
        fail(SpokeError_Transient(what))
    fail(SpokeError_Vendor(what))


def account(config: Config) -> str:
    for name, value in config.values:
        if name == "account" and value.strip():
            return value.strip()
    fail(SpokeError_InvalidConfig("the `account` config field is required"))


def epoch(text: Optional[str]) -> Optional[int]:
    if not text:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        fail(SpokeError_Vendor(f"the vendor sent a bad timestamp: {text!r}"))


def seats_page(cursor: Optional[str]):
    """One page of the vendor's seats: (seats, our next cursor or None)."""
    query = [("limit", str(PAGE_SIZE))]
    if cursor is not None:
        if not cursor.startswith(CURSOR_PREFIX) or len(cursor) == len(CURSOR_PREFIX):
            fail(SpokeError_InvalidConfig("not a cursor of this spoke"))
        query.append(("cursor", cursor[len(CURSOR_PREFIX):]))
    _, body = call(http.Method.GET, "/v1/seats", query)
    if not isinstance(body, dict) or not isinstance(body.get("seats"), list):
        fail(SpokeError_Vendor("the seat listing is not the expected JSON"))
    following = body.get("next_cursor")
    return body["seats"], (CURSOR_PREFIX + following) if following else None


def all_seats():
    cursor = None
    while True:
        seats, cursor = seats_page(cursor)
        yield from seats
        if cursor is None:
            return


def activity(seat: dict, since: Optional[int] = None):
    at = epoch(seat.get("last_active_at"))
    if at is None:
        return ActivityStatus_NoneOrNever()
    if since is not None and at < since:
        return ActivityStatus_NoneInWindow()
    return ActivityStatus_Seen(ActivitySeen(at=at, source="last_active_at", kind=ActivitySource.LAST_ACTIVE))


def current_plan(user_id: str) -> Optional[str]:
    for seat in all_seats():
        if seat.get("user_id") == user_id:
            return seat.get("plan")
    return None


class Connector(exports.Connector):
    def manifest(self) -> Manifest:
        read = [SCOPE_READ]
        return Manifest(
            id="{{name}}",
            display_name="{{name}}",
            publisher="Example",
            version="0.1.0",
            description="Seats of an Example Seats tenant: who holds a seat, their last activity, and taking seats back.",
            processes=[
                ProcessPermission(Process.DOWNLOAD_SUBSCRIPTIONS, "Seat admin (read)", read),
                ProcessPermission(Process.DOWNLOAD_ACTIVITY, "Seat admin (read)", read),
                ProcessPermission(Process.RECLAIM, "Seat admin", [SCOPE_READ, SCOPE_WRITE]),
            ],
            auth=AuthScheme_BearerToken(),
            auth_alternatives=[],
            scope=None,
            activity_from_download=True,
            connection_url_template="https://api.example-seats.test",
            config_fields=[
                ConfigField(
                    name="account",
                    label="Account",
                    description="The Example Seats account the token belongs to (as /v1/me reports it).",
                    required=True,
                )
            ],
            allowed_hosts=["api.example-seats.test"],
            activity_lookback_days=90,
            products=[
                Product(identifier="pro", name="Example Seats Pro", edition=None),
                Product(identifier="basic", name="Example Seats Basic", edition=None),
            ],
            extra_credentials=[],
        )

    def validate(self, config: Config, processes: List[Process]) -> List[ValidationCheck]:
        wanted = account(config)
        _, me = call(http.Method.GET, "/v1/me")
        if not isinstance(me, dict):
            fail(SpokeError_Vendor("/v1/me is not the expected JSON"))
        if me.get("account") != wanted:
            fail(SpokeError_InvalidConfig(f"the token belongs to account {me.get('account')!r}, not {wanted!r}"))
        granted = me.get("scopes") or []
        checks = []
        for process in processes:
            scope = SCOPE_WRITE if process == Process.RECLAIM else SCOPE_READ
            outcome = Ok(None)
            if scope not in granted:
                outcome = Err(SpokeError_Forbidden(Forbidden(message=f"the token lacks {scope}", missing_scope=scope)))
            checks.append(ValidationCheck(process=process, description=f"the token holds {scope}", outcome=outcome))
        return checks

    def list_groups(self, config: Config, cursor: Optional[str]) -> GroupPage:
        return GroupPage(groups=[], next_cursor=None)

    def download_subscriptions(self, config: Config, cursor: Optional[str]) -> SubscriptionPage:
        account(config)
        seats, following = seats_page(cursor)
        page = []
        for seat in seats:
            page.append(
                Subscription(
                    external_user_id=seat["user_id"],
                    identifier=seat["plan"],
                    display_name=seat.get("name"),
                    email=seat.get("email"),
                    account_type=AccountType.APP if seat.get("kind") == "bot" else AccountType.HUMAN,
                    granted_by=[],
                    granted_at=epoch(seat.get("assigned_at")),
                    pending_cancellation=None,
                    activity=activity(seat),
                )
            )
        log.log(log.Level.DEBUG, f"{len(page)} seats on this page")
        return SubscriptionPage(subscriptions=page, next_cursor=following, following_cursors=[])

    def download_activity(self, config: Config, since: int, cursor: Optional[str]) -> ActivityPage:
        account(config)
        seats, following = seats_page(cursor)
        activities = [UserActivity(seat["user_id"], activity(seat, since)) for seat in seats]
        return ActivityPage(activities=activities, next_cursor=following, slices=[])

    def lookup_activity(self, config: Config, since: int, external_user_ids: List[str]) -> List[UserActivity]:
        account(config)
        wanted = set(external_user_ids)
        found = {}
        for seat in all_seats():
            if seat.get("user_id") in wanted:
                found[seat["user_id"]] = activity(seat, since)
        return [
            UserActivity(user, found.get(user, ActivityStatus_Unknown("holds no seat")))
            for user in sorted(wanted)
        ]

    def plan_reclaim(self, config: Config, subscription: SubscriptionRef) -> List[SeatChange]:
        account(config)
        plan = current_plan(subscription.external_user_id)
        if plan is None:
            return []
        return [SeatChange(kind=SEAT_REMOVED, target_id=plan, target_name=None)]

    def apply_reclaim(self, config: Config, subscription: SubscriptionRef, changes: List[SeatChange]) -> List[SeatChange]:
        account(config)
        for change in changes:
            if change.kind != SEAT_REMOVED:
                fail(SpokeError_InvalidConfig(f"unknown change kind {change.kind!r}"))
            # 404: the seat is already gone, which is what we want.
            call(http.Method.DELETE, "/v1/seats/" + quote(subscription.external_user_id, safe=""), accept=(204, 404))
        return changes

    def restore(self, config: Config, subscription: SubscriptionRef, changes: List[SeatChange]) -> None:
        account(config)
        for change in changes:
            if change.kind != SEAT_REMOVED:
                fail(SpokeError_InvalidConfig(f"unknown change kind {change.kind!r}"))
            body = {"user_id": subscription.external_user_id, "plan": change.target_id}
            # 409: the user holds a seat again already.
            call(http.Method.POST, "/v1/seats", body=body, accept=(201, 409))

    def vendor_seat_counts(self, config: Config) -> List[VendorSeatCount]:
        account(config)
        _, body = call(http.Method.GET, "/v1/plans")
        plans = body.get("plans") if isinstance(body, dict) else None
        if not isinstance(plans, list):
            fail(SpokeError_Vendor("/v1/plans is not the expected JSON"))
        return [
            VendorSeatCount(identifier=p["plan"], purchased=p.get("purchased"), in_use=p.get("assigned"), pending_cancellation=None)
            for p in plans
        ]
