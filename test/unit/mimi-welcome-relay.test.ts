// The relay of a Welcome from an LM participant to the MIMI hub (shared/mimi-welcome-relay.ts): the
// body is read strictly, the Welcome must be an MLS Welcome, and an LM server recognises a MIMI
// follower's user by the hub-vouched join naming the user's own server.

import { beforeAll, describe, expect, it } from "vitest";
import { isJoinedMimiUser, parseWelcomeRelay, welcomeBytes, welcomeRelayJson } from "../../shared/mimi-welcome-relay.js";
import { MIMI_PROVIDER_KEY } from "../../shared/mimi-vouched.js";
import { RoomState } from "../../shared/room-state.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import type { Pdu } from "../../shared/event.js";
import { MlsDevice, type PendingCommit } from "../support/mls-client.js";

const ROOM = "!r:hub.test";
let add: PendingCommit & { welcome: string };

beforeAll(async () => {
  const alice = await MlsDevice.create("@alice:hub.test", "ALICE");
  const bob = await MlsDevice.create("@bob:f1.test", "BOB");
  await alice.createGroup(ROOM);
  add = (await alice.commit({ add: [await bob.keyPackage()] })) as PendingCommit & { welcome: string };
});

const body = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...welcomeRelayJson(ROOM, { commitEventId: "$commit", sender: "@carol:p1.test", welcome: add.welcome, targets: [{ userId: "@bob:f1.test", deviceId: "BOB" }] }),
  ...over,
});

describe("a relayed Welcome's body", () => {
  it("reads a well-formed relay, keeping the Welcome's bytes", () => {
    const parsed = parseWelcomeRelay(body({ targets: [{ user_id: "@bob:f1.test", device_id: "BOB" }, { user_id: "@bob:f1.test", device_id: "*" }] }), ROOM);
    expect(parsed.ok && parsed.relay.targets).toEqual([{ userId: "@bob:f1.test", deviceId: "BOB" }, { userId: "@bob:f1.test", deviceId: "*" }]);
    expect(parsed.ok && parsed.relay.welcome).toEqual(welcomeBytes(add.welcome));
  });

  it("refuses a relay for another room, without a commit or sender, or with no targets", () => {
    expect(parseWelcomeRelay(body({ room_id: "!other:hub.test" }), ROOM)).toMatchObject({ ok: false, reason: expect.stringMatching(/room_id/) });
    expect(parseWelcomeRelay(body(), "not a room")).toMatchObject({ ok: false });
    expect(parseWelcomeRelay(body({ commit_event_id: 7 }), ROOM)).toMatchObject({ ok: false, reason: expect.stringMatching(/commit_event_id/) });
    expect(parseWelcomeRelay(body({ sender: "carol" }), ROOM)).toMatchObject({ ok: false, reason: expect.stringMatching(/sender/) });
    expect(parseWelcomeRelay(body({ targets: [] }), ROOM)).toMatchObject({ ok: false, reason: expect.stringMatching(/targets/) });
    expect(parseWelcomeRelay(body({ targets: [{ user_id: "@bob:f1.test" }] }), ROOM)).toMatchObject({ ok: false });
    expect(parseWelcomeRelay(body({ targets: [{ user_id: "bob", device_id: "BOB" }] }), ROOM)).toMatchObject({ ok: false });
  });

  it("refuses a welcome that is not base64 of an MLS Welcome: a commit, garbage, or not a string", () => {
    for (const welcome of [add.message, "AAEA", "!!", 5]) {
      expect(parseWelcomeRelay(body({ welcome }), ROOM)).toMatchObject({ ok: false, reason: expect.stringMatching(/Welcome/) });
    }
  });
});

describe("a MIMI follower's user, as an LM server sees the room", () => {
  const member = (sender: string, target: string, content: JsonObject): Pdu => ({ type: "m.room.member", sender, state_key: target, content }) as unknown as Pdu;
  function stateOf(...events: Pdu[]): RoomState {
    const state = new RoomState();
    events.forEach((e, i) => state.apply(`$m${i}`, e));
    return state;
  }
  const isMimi = (state: RoomState, userId: string) => isJoinedMimiUser(userId, state.get("m.room.member", userId), state);

  it("is a joined user whose join names the user's own server as provider, a server not in the room over LM", () => {
    const state = stateOf(
      member("@carol:p1.test", "@carol:p1.test", { membership: "join" }),
      member("@bob:f1.test", "@bob:f1.test", { membership: "join", [MIMI_PROVIDER_KEY]: "f1.test" }),
      member("@erin:f2.test", "@erin:f2.test", { membership: "leave", [MIMI_PROVIDER_KEY]: "f2.test" }),
      member("@eve:p1.test", "@eve:p1.test", { membership: "join", [MIMI_PROVIDER_KEY]: "p1.test" }),
      member("@mal:f3.test", "@mal:f3.test", { membership: "join", [MIMI_PROVIDER_KEY]: "f1.test" }),
    );
    expect(isMimi(state, "@bob:f1.test")).toBe(true);
    expect(isMimi(state, "@carol:p1.test")).toBe(false); // an LM user
    expect(isMimi(state, "@erin:f2.test")).toBe(false); // left
    expect(isMimi(state, "@eve:p1.test")).toBe(false); // p1 takes part over LM
    expect(isMimi(state, "@mal:f3.test")).toBe(false); // names another provider
    expect(isMimi(state, "@nobody:f1.test")).toBe(false);
  });
});
