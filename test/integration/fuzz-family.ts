// One family of endpoints fuzzed (the fuzz-*-endpoints.test.ts files): malformed bodies and random
// queries under every kind of credential, wrong-typed JSON from strangers and remote servers, then
// the check that nothing stored changed, then wrong-typed JSON from a signed-in user.

import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { canonicalJson } from "../../shared/canonical-json.js";
import { FEDERATION_V1 } from "../../shared/federation-paths.js";
import { fakeServer, noWellKnown, serveKeys, stubFetch } from "./fake-remote.js";
import {
  C,
  FAMILIES,
  ROUTES,
  SERVER,
  STORES_ANY_BODY,
  TIMEOUT,
  call,
  callJson,
  checkAnswer,
  credential,
  fillPath,
  fx,
  headersFor,
  malformedBody,
  query,
  runs,
  settledSnapshot,
  tally,
  type Credential,
  type Family,
  type Route,
  type Snapshot,
} from "./fuzz-support.js";

const enc = encodeURIComponent;

/** The barrages and the stored-state check on one family's routes. */
export function fuzzFamily(family: Family): void {
  const routes = ROUTES.filter((r) => FAMILIES[family](r.path));
  describe(`fuzzing the ${family} endpoints`, { timeout: TIMEOUT }, () => {
    let before: Snapshot;

    beforeAll(async () => {
      tally.reset();
      const username = `fuzz${Date.now().toString(36)}`;
      const reg = await callJson("POST", `${C}/register`, undefined, { username, password: "pw", auth: { type: "m.login.dummy" } });
      const token = reg["access_token"] as string;
      const room = await callJson("POST", `${C}/createRoom`, token, { name: "Fuzz target" });
      const roomId = room["room_id"] as string;
      const sent = await callJson("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/t1`, token, { msgtype: "m.text", body: "before" });
      const media = await call("POST", "/_matrix/media/v3/upload?filename=fuzz.txt", { authorization: `Bearer ${token}`, "content-type": "text/plain" }, "fuzz target");
      const mediaId = ((await media.json()) as { content_uri: string }).content_uri.split("/").pop() as string;
      Object.assign(fx, { userId: reg["user_id"] as string, token, roomId, eventId: sent["event_id"] as string, remote: await fakeServer("fuzzer.remote.example"), mediaId });
    });

    afterEach(() => {
      vi.restoreAllMocks();
    });

    afterAll(() => {
      const { requests, statuses } = tally;
      const byStatus = [...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}:${n}`).join(" ");
      console.log(`[fuzz] ${family} endpoints: ${routes.length} routes, ${requests} requests, 500s: ${statuses.get(500) ?? 0}, by status ${byStatus}`);
    });

    /** Serves the remote's keys; a first signed request caches them, so the barrage itself writes none. */
    async function withRemoteKeys(): Promise<void> {
      stubFetch(noWellKnown, serveKeys(fx.remote, () => fx.remote.keyDocument()));
      const path = `${FEDERATION_V1}/state_ids/${enc(fx.roomId)}?event_id=${enc(fx.eventId)}`;
      const res = await call("GET", path, { authorization: await fx.remote.sign(SERVER, "GET", path) });
      expect(res.status).toBe(404); // authenticated, but the remote has no member in the room
    }

    it("answers malformed bodies on every endpoint with a JSON Matrix error, never a 500", async () => {
      await withRemoteKeys();
      before = await settledSnapshot();
      const bodyRoutes = routes.filter((r) => r.method !== "GET");
      // Every route with a body, each with malformed bodies under every kind of credential.
      for (const route of bodyRoutes) {
        // Logout takes no body: with a real token it is an honest logout whatever is sent along.
        // Uploads by a real user are accepted whatever they hold: the signed-in barrage below sends them.
        const creds = /\/logout/.test(route.path) || STORES_ANY_BODY.test(route.path) ? fc.constantFrom<Credential>("none", "bogus", "federation") : credential;
        const samples = fc.sample(fc.tuple(fillPath(route.path), malformedBody, creds), runs(4));
        for (const [path, body, cred] of samples) {
          const headers = { ...(await headersFor(cred, route.method, path)), "content-type": "application/json" };
          await checkAnswer(`${route.method} ${path.slice(0, 120)} [${cred}]`, await call(route.method, path, headers, body));
        }
      }
      // And the GET routes with random parameters and queries, signed and not.
      for (const route of routes.filter((r) => r.method === "GET")) {
        const samples = fc.sample(fc.tuple(fillPath(route.path), query, credential), runs(3));
        for (const [path, q, cred] of samples) {
          const target = path + q;
          await checkAnswer(`GET ${target.slice(0, 120)} [${cred}]`, await call("GET", target, await headersFor(cred, "GET", target)));
        }
      }
      expect(tally.problems).toEqual([]);
    });

    /** Objects whose well-known fields hold values of types no endpoint accepts for them. */
    function wrongTypedBody(route: Route): fc.Arbitrary<Record<string, unknown>> {
      const wrong = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.constant({ nested: { deeper: [1, { x: "y" }] } }), fc.string({ maxLength: 5 }));
      const fields = route.path.startsWith("/_matrix/client")
        ? ["username", "password", "auth", "identifier", "type", "user_id", "preset", "invite", "initial_state", "creation_content", "power_level_content_override", "room_version", "visibility", "is_direct", "displayname", "avatar_url", "reason", "typing", "timeout", "m.fully_read", "m.read", "room", "presence", "room_id", "device_keys", "one_time_keys", "messages", "filter", "server_keys", "conn_id", "pos", "lists", "room_subscriptions", "extensions", "thread_id", "devices", "display_name", "actions", "enabled", "pattern", "conditions", "pushkey", "app_id", "kind", "data", "master_key", "self_signing_key", "user_signing_key", "algorithm", "auth_data", "rooms", "sessions", "session_data", "first_message_index", "status_msg", "search_term", "limit", "since"]
        : ["pdus", "edus", "event", "room_version", "invite_room_state", "server_keys", "origin", "origin_server_ts", "type", "sender", "content", "state_key", "room_id"];
      return fc.dictionary(fc.constantFrom(...fields), wrong, { minKeys: 1, maxKeys: 4 });
    }

    async function wrongTypesBarrage(creds: fc.Arbitrary<Credential>, perRoute: number, skip?: RegExp): Promise<void> {
      for (const route of routes.filter((r) => r.method !== "GET" && !(skip?.test(r.path) ?? false))) {
        for (const [path, content, cred] of fc.sample(fc.tuple(fillPath(route.path), wrongTypedBody(route), creds), runs(perRoute))) {
          const headers = { ...(await headersFor(cred, route.method, path, content)), "content-type": "application/json" };
          const res = await call(route.method, path, headers, canonicalJson(content));
          await checkAnswer(`${route.method} ${path.slice(0, 120)} [${cred}] ${JSON.stringify(content).slice(0, 100)}`, res);
        }
      }
    }

    it("answers wrong-typed JSON from strangers and remote servers on every endpoint with JSON, never a 500", async () => {
      await withRemoteKeys();
      await wrongTypesBarrage(fc.constantFrom<Credential>("none", "bogus", "federation"), 2);
      expect(tally.problems).toEqual([]);
    });

    it("leaves stored state as it was: every D1 table's row count, the room's events and its state", async () => {
      expect(before).toBeDefined();
      const after = await settledSnapshot();
      expect({ counts: after.counts, events: after.events, state: after.state }).toEqual({ counts: before.counts, events: before.events, state: before.state });
      // The event index may have caught up meanwhile, but only with events the room had before.
      const allowed = new Set([...before.indexed, ...before.events.map((id) => `${fx.roomId} ${id}`)]);
      expect(after.indexed.filter((row) => !allowed.has(row))).toEqual([]);
      // The snapshot is not trivially empty: the fixture room and its user are in it.
      expect(before.events.length).toBeGreaterThan(3);
      expect(before.counts["users"]).toBeGreaterThan(0);
      expect(before.counts["access_tokens"]).toBeGreaterThan(0);
      // Every route of the family had its share of both barrages so far.
      const bodies = routes.filter((r) => r.method !== "GET").length;
      expect(routes.length).toBeGreaterThan(0);
      expect(tally.requests).toBeGreaterThanOrEqual(bodies * runs(4) + (routes.length - bodies) * runs(3) + bodies * runs(2));
      expect(tally.statuses.get(500) ?? 0).toBe(0);
    });

    it("answers wrong-typed JSON from a signed-in user on every endpoint with JSON, never a 500", async () => {
      // Optional fields of the wrong type may be ignored by an endpoint that then acts (a leave, a
      // logout), so this runs last, as a user of its own, and checks the answers only.
      const username = `fuzzuser${Date.now().toString(36)}`;
      const reg = await callJson("POST", `${C}/register`, undefined, { username, password: "pw", auth: { type: "m.login.dummy" } });
      const own = reg["access_token"] as string;
      await callJson("POST", `${C}/join/${enc(fx.roomId)}`, own, {}).catch(() => undefined);
      const saved = fx.token;
      fx.token = own;
      try {
        await withRemoteKeys();
        // Logout would end the session the rest of the barrage uses.
        await wrongTypesBarrage(fc.constant<Credential>("user"), 2, /\/logout/);
      } finally {
        fx.token = saved;
      }
      expect(tally.problems).toEqual([]);
    });
  });
}
