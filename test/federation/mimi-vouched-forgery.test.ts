// A hub-only-signed event naming its sender's server as MIMI provider (shared/mimi-vouched.ts) is
// believed only for a server that is a MIMI provider of the room. Here hub.test turns malicious and
// writes such an event for carol of p2.test, which takes part in the room over LM: p1 must refuse
// it, while the same kind of event for a user of a server outside LM is still accepted. And no LM
// participant can smuggle the provider key in through the hub.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonObject } from "../../shared/canonical-json.js";
import { buildVouchedPdu } from "../../shared/lpdu.js";
import { MIMI_PROVIDER_KEY } from "../../shared/mimi-vouched.js";
import { LM_ROOM_VERSION } from "../../shared/room-versions.js";
import { eventually, type TestClient } from "./client.js";
import { keyOf, linksAt, lpduIdOf, lpduWith, marker, sendTxn, serversHolding, serversHoldingId, type EventFields } from "./forge.js";
import { stopServers, type TestServer } from "./harness.js";
import { message, startHostileRoom } from "./hostile-setup.js";

describe("hub-vouched MIMI events and LM servers", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let alice: TestClient;
  let roomId: string;

  beforeAll(async () => {
    ({ servers, hub, p1, alice, roomId } = await startHostileRoom());
  });
  afterAll(() => stopServers(servers));

  /** What a malicious hub writes: `fields` with the sender's server named as provider, signed by the hub alone. */
  async function vouched(fields: EventFields): Promise<{ pdu: unknown; eventId: string }> {
    const provider = fields.sender.split(":")[1] as string;
    const content: JsonObject = { ...fields.content, [MIMI_PROVIDER_KEY]: provider };
    const full = { ...fields, content };
    const links = await linksAt(p1, roomId, full);
    return buildVouchedPdu({ ...full, origin_server_ts: Date.now() }, links, hub.name, await keyOf(hub), LM_ROOM_VERSION);
  }

  it("p1 refuses a hub-only-signed message in the name of a user of p2, which takes part over LM", async () => {
    const body = marker("forged-carol");
    const { pdu, eventId } = await vouched({ room_id: roomId, type: "m.room.message", sender: "@carol:p2.test", content: message(body) });
    const answer = await sendTxn(hub, p1, [pdu]);
    expect(answer.status).toBe(200);
    expect(answer.body.failed_pdus?.[eventId]?.error).toMatch(/p2\.test takes part in this room over LM/);
    expect(await serversHolding([p1], roomId, body)).toEqual([]);
  });

  it("p1 still accepts hub-vouched events for a user of a server that takes no part over LM (control)", async () => {
    const rules = await alice.setState(roomId, "m.room.join_rules", "", { join_rule: "public" });
    // The forged join names p1's last event as its parent, so p1 must hold the hub's change first.
    await eventually(async () => ((await serversHoldingId([p1], roomId, rules)).length === 1 ? true : undefined), "the join rules on p1");
    const join = await vouched({ room_id: roomId, type: "m.room.member", sender: "@dan:f9.test", state_key: "@dan:f9.test", content: { membership: "join" } });
    const joined = await sendTxn(hub, p1, [join.pdu]);
    expect(joined.body.failed_pdus).toEqual({});
    const body = marker("vouched-dan");
    const msg = await vouched({ room_id: roomId, type: "m.room.message", sender: "@dan:f9.test", content: message(body) });
    const answer = await sendTxn(hub, p1, [msg.pdu]);
    expect(answer.body.failed_pdus).toEqual({});
    expect(await serversHolding([p1], roomId, body)).toEqual([p1.name]);
  });

  it("the hub refuses an LPDU from an LM participant that carries the provider key, so participants never see one", async () => {
    const body = marker("smuggled");
    const lpdu = await lpduWith(await keyOf(p1), hub.name, { room_id: roomId, type: "m.room.message", sender: "@bob:p1.test", content: { ...message(body), [MIMI_PROVIDER_KEY]: "p1.test" } });
    const answer = await sendTxn(p1, hub, [lpdu]);
    expect(answer.status).toBe(200);
    expect(answer.body.failed_pdus?.[await lpduIdOf(lpdu)]?.error).toMatch(/written only by the hub/);
    expect(await serversHolding(servers, roomId, body)).toEqual([]);
  });
});
