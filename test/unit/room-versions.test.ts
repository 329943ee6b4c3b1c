// The rule flags each room version carries: code outside the registry asks these instead of
// comparing version IDs, so each flag must say what the version's algorithms actually do.

import { describe, expect, it } from "vitest";
import { isPowerLevelsProblem, parsePowerLevels, roomCreators, userLevel } from "../../shared/power-levels.js";
import { redactLm, redactV11 } from "../../shared/redaction.js";
import { getRoomVersion, LM_ROOM_VERSION_ID, SUPPORTED_ROOM_VERSIONS } from "../../shared/room-versions.js";
import type { Pdu } from "../../shared/event.js";

const flags = (id: string) => {
  const v = getRoomVersion(id);
  if (!v) throw new Error(`no room version ${id}`);
  const { stable, linearized, roomIdFromCreateEvent, authRules, creatorsPrivileged, redaction, stateResolution } = v;
  return { stable, linearized, roomIdFromCreateEvent, authRules, creatorsPrivileged, redaction, stateResolution };
};

describe("room version rule flags", () => {
  it.each([
    [LM_ROOM_VERSION_ID, { stable: false, linearized: true, roomIdFromCreateEvent: false, authRules: "lm", creatorsPrivileged: false, redaction: "lm", stateResolution: "linear" }],
    ["11", { stable: true, linearized: false, roomIdFromCreateEvent: false, authRules: "11", creatorsPrivileged: false, redaction: "v11", stateResolution: "v2" }],
    ["12", { stable: true, linearized: false, roomIdFromCreateEvent: true, authRules: "12", creatorsPrivileged: true, redaction: "v11", stateResolution: "v2.1" }],
  ])("version %s", (id, expected) => {
    expect(flags(id)).toEqual(expected);
  });

  it("the redaction flag names the algorithm redact() runs", () => {
    const event = { type: "m.room.member", sender: "@a:x", content: { membership: "join", join_authorised_via_users_server: "@b:x" }, depth: 3, hub_server: "x" };
    for (const v of SUPPORTED_ROOM_VERSIONS) {
      expect(v.redact(event)).toEqual(v.redaction === "lm" ? redactLm(event) : redactV11(event));
    }
  });

  it("creatorsPrivileged says whether an additional creator outranks a user listed at 100 under the version's auth rules", () => {
    const create = { type: "m.room.create", state_key: "", sender: "@alice:x", content: { additional_creators: ["@bob:x"] } } as unknown as Pdu;
    for (const v of SUPPORTED_ROOM_VERSIONS) {
      const levels = parsePowerLevels({ users: { "@carol:x": 100 } }, v.authRules);
      if (isPowerLevelsProblem(levels)) throw new Error(levels.reason);
      const ctx = { levels, creators: roomCreators(create, v.authRules), version: v.authRules };
      expect(userLevel(ctx, "@bob:x") > userLevel(ctx, "@carol:x")).toBe(v.creatorsPrivileged);
    }
  });
});
