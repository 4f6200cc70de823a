// {{name}}: a sam spoke for the Example Seats API, in JavaScript (jco / componentize-js).
//
// It lists the tenant's seats (GET /v1/seats, cursor paging), reads each seat's last activity
// from the same listing, takes a seat back (DELETE /v1/seats/{user_id}) and gives it back
// (POST /v1/seats), and reports the vendor's seat counts (GET /v1/plans). The engine adds the
// bearer token to every request, keeps the spoke to its allowed hosts and retries 429/5xx;
// every call runs in a fresh instance, so nothing is kept between calls (the cursor carries
// the position).
//
// Bindings (jco): records are objects with camelCase fields, enums are strings, variants are
// { tag, val }, s64/u64 are BigInt, list<u8> is a Uint8Array. Throwing a spoke-error value
// (a { tag, val } object) makes a call return it as its error.

import { send } from "sam:spoke/http@0.2.0";
import { log } from "sam:spoke/log@0.2.0";

const PAGE_SIZE = 100;
// Our cursor: the vendor's cursor behind a version prefix, so a stale or foreign cursor is
// refused as invalid config instead of being sent on.
const CURSOR_PREFIX = "v1:";
const SEAT_REMOVED = "seat-removed";
const SCOPE_READ = "seats:read";
const SCOPE_WRITE = "seats:write";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function fail(tag, val) {
  throw { tag, val };
}

function header(response, name) {
  const found = response.headers.find(([key]) => key.toLowerCase() === name);
  return found ? found[1] : undefined;
}

// Sends one JSON request; returns { status, body }. Statuses outside `accept` become the
// matching spoke-error.
function call(method, path, { query = [], body, accept = [200] } = {}) {
  const headers = [["accept", "application/json"]];
  let data;
  if (body !== undefined) {
    data = encoder.encode(JSON.stringify(body));
    headers.push(["content-type", "application/json"]);
  }
  let response;
  try {
    response = send({ method, path, query, headers, body: data });
  } catch (e) {
    const error = e && e.payload !== undefined ? e.payload : e;
    switch (error && error.tag) {
      case "timeout":
        fail("transient", "the vendor did not answer in time");
      case "connection":
        fail("transient", `cannot reach the vendor: ${error.val}`);
      case "denied":
        fail("vendor", `the engine refused the request: ${error.val}`);
      default:
        fail("vendor", "the vendor's answer could not be read");
    }
  }
  const status = response.status;
  let parsed;
  try {
    parsed = response.body.length ? JSON.parse(decoder.decode(response.body)) : undefined;
  } catch {
    parsed = undefined;
  }
  if (accept.includes(status)) {
    return { status, body: parsed };
  }
  const detail = parsed && typeof parsed === "object" ? parsed : {};
  const what = `${method.toUpperCase()} ${path}: HTTP ${status} ${detail.error ?? ""}`.trim();
  if (status === 401) fail("unauthorized", what);
  if (status === 403) fail("forbidden", { message: what, missingScope: detail.missing_scope });
  if (status === 404) fail("not-found", what);
  if (status === 429) {
    const retry = header(response, "retry-after");
    const seconds = retry && /^\d+$/.test(retry) ? BigInt(retry) : undefined;
    fail("rate-limited", { message: what, retryAfterSeconds: seconds });
  }
  if (status === 400) fail("invalid-config", `${what}: ${detail.message ?? ""}`);
  if (status >= 500) fail("transient", what);
  fail("vendor", what);
}

function account(config) {
  const found = config.values.find(([name, value]) => name === "account" && value.trim());
  if (!found) fail("invalid-config", "the `account` config field is required");
  return found[1].trim();
}

function epoch(text) {
  if (!text) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) fail("vendor", `the vendor sent a bad timestamp: ${text}`);
  return BigInt(Math.floor(ms / 1000));
}

// One page of the vendor's seats: { seats, next } (our next cursor, or undefined).
function seatsPage(cursor) {
  const query = [["limit", String(PAGE_SIZE)]];
  if (cursor !== undefined && cursor !== null) {
    if (!cursor.startsWith(CURSOR_PREFIX) || cursor.length === CURSOR_PREFIX.length) {
      fail("invalid-config", "not a cursor of this spoke");
    }
    query.push(["cursor", cursor.slice(CURSOR_PREFIX.length)]);
  }
  const { body } = call("get", "/v1/seats", { query });
  if (!body || !Array.isArray(body.seats)) {
    fail("vendor", "the seat listing is not the expected JSON");
  }
  return { seats: body.seats, next: body.next_cursor ? CURSOR_PREFIX + body.next_cursor : undefined };
}

function* allSeats() {
  let cursor;
  do {
    const page = seatsPage(cursor);
    yield* page.seats;
    cursor = page.next;
  } while (cursor !== undefined);
}

function activity(seat, since) {
  const at = epoch(seat.last_active_at);
  if (at === undefined) return { tag: "none-or-never" };
  if (since !== undefined && at < since) return { tag: "none-in-window" };
  return { tag: "seen", val: { at, source: "last_active_at", kind: "last-active" } };
}

function currentPlan(userId) {
  for (const seat of allSeats()) {
    if (seat.user_id === userId) return seat.plan;
  }
  return undefined;
}

function checkKinds(changes) {
  for (const change of changes) {
    if (change.kind !== SEAT_REMOVED) fail("invalid-config", `unknown change kind ${change.kind}`);
  }
}

export const connector = {
  manifest() {
    const read = [SCOPE_READ];
    return {
      id: "{{name}}",
      displayName: "{{name}}",
      publisher: "Example",
      version: "0.1.0",
      description:
        "Seats of an Example Seats tenant: who holds a seat, their last activity, and taking seats back.",
      processes: [
        { process: "download-subscriptions", vendorRole: "Seat admin (read)", scopes: read },
        { process: "download-activity", vendorRole: "Seat admin (read)", scopes: read },
        { process: "reclaim", vendorRole: "Seat admin", scopes: [SCOPE_READ, SCOPE_WRITE] },
      ],
      auth: { tag: "bearer-token" },
      authAlternatives: [],
      scope: undefined,
      activityFromDownload: true,
      connectionUrlTemplate: "https://api.example-seats.test",
      configFields: [
        {
          name: "account",
          label: "Account",
          description: "The Example Seats account the token belongs to (as /v1/me reports it).",
          required: true,
        },
      ],
      allowedHosts: ["api.example-seats.test"],
      activityLookbackDays: 90,
      products: [
        { identifier: "pro", name: "Example Seats Pro", edition: undefined },
        { identifier: "basic", name: "Example Seats Basic", edition: undefined },
      ],
      extraCredentials: [],
    };
  },

  validate(config, processes) {
    const wanted = account(config);
    const { body: me } = call("get", "/v1/me");
    if (!me || typeof me !== "object") fail("vendor", "/v1/me is not the expected JSON");
    if (me.account !== wanted) {
      fail("invalid-config", `the token belongs to account ${me.account}, not ${wanted}`);
    }
    const granted = Array.isArray(me.scopes) ? me.scopes : [];
    return processes.map((process) => {
      const scope = process === "reclaim" ? SCOPE_WRITE : SCOPE_READ;
      const outcome = granted.includes(scope)
        ? { tag: "ok", val: undefined }
        : {
            tag: "err",
            val: { tag: "forbidden", val: { message: `the token lacks ${scope}`, missingScope: scope } },
          };
      return { process, description: `the token holds ${scope}`, outcome };
    });
  },

  listGroups(_config, _cursor) {
    return { groups: [], nextCursor: undefined };
  },

  downloadSubscriptions(config, cursor) {
    account(config);
    const { seats, next } = seatsPage(cursor);
    const subscriptions = seats.map((seat) => ({
      externalUserId: seat.user_id,
      identifier: seat.plan,
      displayName: seat.name ?? undefined,
      email: seat.email ?? undefined,
      accountType: seat.kind === "bot" ? "app" : "human",
      grantedBy: [],
      grantedAt: epoch(seat.assigned_at),
      pendingCancellation: undefined,
      activity: activity(seat),
    }));
    log("debug", `${subscriptions.length} seats on this page`);
    return { subscriptions, nextCursor: next, followingCursors: [] };
  },

  downloadActivity(config, since, cursor) {
    account(config);
    const { seats, next } = seatsPage(cursor);
    const activities = seats.map((seat) => ({
      externalUserId: seat.user_id,
      status: activity(seat, since),
    }));
    return { activities, nextCursor: next, slices: [] };
  },

  lookupActivity(config, since, externalUserIds) {
    account(config);
    const wanted = new Set(externalUserIds);
    const found = new Map();
    for (const seat of allSeats()) {
      if (wanted.has(seat.user_id)) found.set(seat.user_id, activity(seat, since));
    }
    return [...wanted].map((user) => ({
      externalUserId: user,
      status: found.get(user) ?? { tag: "unknown", val: "holds no seat" },
    }));
  },

  planReclaim(config, subscription) {
    account(config);
    const plan = currentPlan(subscription.externalUserId);
    return plan === undefined ? [] : [{ kind: SEAT_REMOVED, targetId: plan, targetName: undefined }];
  },

  applyReclaim(config, subscription, changes) {
    account(config);
    checkKinds(changes);
    for (const _change of changes) {
      // 404: the seat is already gone, which is what we want.
      call("delete", `/v1/seats/${encodeURIComponent(subscription.externalUserId)}`, {
        accept: [204, 404],
      });
    }
    return changes;
  },

  restore(config, subscription, changes) {
    account(config);
    checkKinds(changes);
    for (const change of changes) {
      // 409: the user holds a seat again already.
      call("post", "/v1/seats", {
        body: { user_id: subscription.externalUserId, plan: change.targetId },
        accept: [201, 409],
      });
    }
  },

  vendorSeatCounts(config) {
    account(config);
    const { body } = call("get", "/v1/plans");
    if (!body || !Array.isArray(body.plans)) fail("vendor", "/v1/plans is not the expected JSON");
    return body.plans.map((p) => ({
      identifier: p.plan,
      purchased: typeof p.purchased === "number" ? BigInt(p.purchased) : undefined,
      inUse: typeof p.assigned === "number" ? BigInt(p.assigned) : undefined,
      pendingCancellation: undefined,
    }));
  },
};
