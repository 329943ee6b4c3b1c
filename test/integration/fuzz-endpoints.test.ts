// The endpoint fuzzer's route table: every worker module's routes are found in its source, and each
// falls in exactly one family, whose test file fuzzes it (fuzz-*-endpoints.test.ts, which run in
// parallel; the barrages and checks are in fuzz-family.ts). New endpoints get a row in the list below.

import { describe, expect, it } from "vitest";
import { FEDERATION_V1, FEDERATION_V2, LM_PREFIX } from "../../shared/federation-paths.js";
import { MIMI_FEDERATION_PREFIX } from "../../shared/mimi-welcome-relay.js";
import { C, ROUTES, familiesOf, unexpanded } from "./fuzz-support.js";

describe("the fuzzed routes", () => {
  it("finds the routes of every worker module in their source", () => {
    expect(unexpanded).toEqual([]);
    const paths = ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(ROUTES.length).toBeGreaterThan(60);
    for (const known of [`PUT ${LM_PREFIX}/send/:txnId`, `POST ${C}/createRoom`, `GET ${FEDERATION_V1}/make_join/:roomId/:userId`, `PUT ${C}/rooms/:roomId/send/:eventType/:txnId`, "POST /_matrix/key/v2/query", "POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync", "POST /_matrix/client/v4/sync", `POST ${FEDERATION_V1}/get_missing_events/:roomId`, `GET ${FEDERATION_V1}/event_auth/:roomId/:eventId`, `PUT ${FEDERATION_V1}/send_knock/:roomId/:eventId`, `PUT ${C}/pushrules/:scope/:kind/:ruleId`, `DELETE ${C}/devices/:deviceId`, `POST ${C}/delete_devices`, `POST ${C}/pushers/set`, `POST ${C}/keys/device_signing/upload`, `POST ${C}/keys/signatures/upload`, `PUT ${C}/room_keys/keys/:roomId/:sessionId`, `DELETE ${C}/room_keys/version/:version`, "GET /_matrix/client/v1/rooms/:roomId/relations/:eventId/:relType/:eventType", "GET /_matrix/client/v1/rooms/:roomId/threads", `PUT ${C}/presence/:userId/status`, `POST ${C}/publicRooms`, `POST ${FEDERATION_V1}/publicRooms`, `PUT ${C}/directory/list/room/:roomId`, `POST ${C}/user_directory/search`, "GET /_matrix/client/v1/rooms/:roomId/hierarchy", "GET /_matrix/client/unstable/org.switchboard.mimi/rooms/:roomId/external_sender", `PUT ${FEDERATION_V2}/send_join/:roomId/:eventId`, `POST ${C}/join/:roomIdOrAlias`, `POST ${C}/rooms/:roomId/join`, `POST ${MIMI_FEDERATION_PREFIX}/rooms/:roomId/welcome`]) {
      expect(paths).toContain(known);
    }
  });

  it("puts every route in exactly one fuzzed family", () => {
    expect(ROUTES.filter((r) => familiesOf(r).length !== 1).map((r) => `${r.method} ${r.path}: ${familiesOf(r).join(",")}`)).toEqual([]);
  });
});
