import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../shared/canonical-json.js";
import { carriedAs } from "../../shared/converter/carried-events.js";
import { convertEvent } from "../../shared/converter/convert.js";
import { pairedEncryption } from "../../shared/converter/paired-encryption.js";
import { serviceInviteGrant } from "../../shared/converter/service-power.js";
import type { Pdu } from "../../shared/event.js";
import { MLS_DEFAULT_ALGORITHM } from "../../shared/mls-algorithm.js";
import { LM_ROOM_VERSION } from "../../shared/room-versions.js";

const ALICE = "@alice:hub.example";
const BOB = "@bob:hub.example";
const SERVICE = "@_switchboard:hub.example";
const MEGOLM = { algorithm: "m.megolm.v1.aes-sha2", rotation_period_ms: 604800000 };

const event = (type: string, content: JsonObject, stateKey?: string, sender = ALICE): Pdu =>
  ({ type, content, sender, room_id: "!lm:hub.example", origin_server_ts: 1, hashes: {}, signatures: {}, auth_events: [], prev_events: [], ...(stateKey !== undefined ? { state_key: stateKey } : {}) }) as Pdu;
const create = event("m.room.create", { room_version: "I.1" }, "");
const levels = (extra: JsonObject = {}): JsonObject => ({ users: { [ALICE]: 100, [BOB]: 50 }, invite: 50, ban: 50, state_default: 50, events: { "m.room.power_levels": 100 }, ...extra });

describe("the paired room's encryption", () => {
  it("copies the LM room's m.room.encryption, else the MLS algorithm its create event fixes, else none", () => {
    expect(pairedEncryption(MEGOLM, undefined)).toEqual(MEGOLM);
    expect(pairedEncryption(undefined, { encryption: { algorithm: MLS_DEFAULT_ALGORITHM } })).toEqual({ algorithm: MLS_DEFAULT_ALGORITHM });
    expect(pairedEncryption({ algorithm: MLS_DEFAULT_ALGORITHM }, { encryption: { algorithm: MLS_DEFAULT_ALGORITHM } })).toEqual({ algorithm: MLS_DEFAULT_ALGORITHM });
    expect(pairedEncryption(undefined, {})).toBeUndefined();
    expect(pairedEncryption({}, { encryption: "bogus" })).toBeUndefined();
  });

  it("carries an m.room.encryption naming an algorithm as room state, and never one that names none", () => {
    expect(carriedAs(event("m.room.encryption", MEGOLM, ""))).toEqual({ kind: "state" });
    expect(carriedAs(event("m.room.encryption", {}, ""))).toBeUndefined();
    expect(carriedAs(event("m.room.encryption", { algorithm: "" }, ""))).toBeUndefined();
    expect(carriedAs(event("m.room.encryption", MEGOLM, "x"))).toBeUndefined();
  });
});

describe("the service user's invite level at pairing", () => {
  it("grants the invite level, keeping the rest of the content", () => {
    const grant = serviceInviteGrant(levels(), create, ALICE, SERVICE);
    expect(grant).toEqual({ grant: true, content: { ...levels(), users: { [ALICE]: 100, [BOB]: 50, [SERVICE]: 50 } } });
  });

  it("needs no grant when the service user can invite already", () => {
    expect(serviceInviteGrant(levels({ invite: 0 }), create, BOB, SERVICE)).toEqual({ grant: false });
    expect(serviceInviteGrant(levels({ users: { [ALICE]: 100, [SERVICE]: 75 } }), create, BOB, SERVICE)).toEqual({ grant: false });
  });

  it("refuses a member who cannot change power levels, or whose level is below the invite level", () => {
    expect(serviceInviteGrant(levels(), create, BOB, SERVICE)).toMatchObject({ refused: expect.stringContaining("changing power levels takes 100") });
    const lowerThanInvite = levels({ invite: 80, events: { "m.room.power_levels": 50 } });
    expect(serviceInviteGrant(lowerThanInvite, create, BOB, SERVICE)).toMatchObject({ refused: expect.stringContaining("above the sender's level") });
  });
});

describe("unbans across the converter", () => {
  it("tells an unban from a leave or a kick by the member's membership before it", () => {
    const leave = event("m.room.member", { membership: "leave" }, BOB);
    expect(carriedAs(leave, "ban")).toMatchObject({ membership: "unban", content: { membership: "leave" } });
    expect(carriedAs(leave, "join")).toMatchObject({ membership: "leave" });
    expect(carriedAs(leave)).toMatchObject({ membership: "leave" });
    // A banned member cannot leave on their own; were one to, it would not be an unban.
    expect(carriedAs(event("m.room.member", { membership: "leave" }, BOB, BOB), "ban")).toMatchObject({ membership: "leave" });
  });

  it("has the service user send the unban of the member's ghost", () => {
    const result = convertEvent({ roomId: "!lm:hub.example", version: LM_ROOM_VERSION, eventId: "$" + "U".repeat(43), pdu: event("m.room.member", { membership: "leave" }, "@carol:p1.example"), before: "ban" }, "!" + "M".repeat(43), "hub.example");
    expect(result).toMatchObject({ ok: true, conversion: { sender: SERVICE, type: "m.room.member", state_key: "@_lm_carol=3ap1.example:hub.example", content: { membership: "leave" } } });
  });
});
