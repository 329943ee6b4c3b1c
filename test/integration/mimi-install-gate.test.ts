// A room whose MIMI follower set dates from before the install rule (docs/mimi.md "Required for MIMI"):
// stored state in the real Room in workerd, an MLS room hosted here with a follower recorded whose
// group never installed the hub as external sender. The follower's submitMessage, update and standalone
// proposal are notAllowed for that reason, another MIMI participant is refused, and nothing is written.

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { decodeBase64 } from "../../shared/base64.js";
import { MLS_DEFAULT_ALGORITHM } from "../../shared/mls-algorithm.js";
import type { FollowerSet } from "../../durable-objects/room-mimi-storage.js";
import { MlsDevice } from "../support/mls-client.js";
import { C, call, enc, register, uploadOk } from "./keys.helpers.js";

const FOLLOWER = "f1.install-gate.example";

describe("a room with a follower from before the install rule", () => {
  it("refuses the follower's traffic and new MIMI participants while the hub is not installed, and writes nothing", async () => {
    const s = await register("gate");
    await uploadOk(s, { device_keys: await s.keys.deviceKeys({ mls: true }) });
    const created = await call("POST", `${C}/createRoom`, { token: s.token, body: { creation_content: { encryption: { algorithm: MLS_DEFAULT_ALGORITHM } } } });
    const roomId = created.json["room_id"] as string;
    const device = await MlsDevice.create(s.userId, s.deviceId, { signKey: s.keys.mls.seed, publicKey: s.keys.mls.key.publicKey });
    await device.createGroup(roomId);
    const genesis = await device.commit();
    expect((await call("PUT", `${C}/rooms/${enc(roomId)}/send/m.mls.commit/g1`, { token: s.token, body: { message: genesis.message } })).status).toBe(200);
    device.confirm(genesis);

    const stub = env.ROOM.get(env.ROOM.idFromName(roomId));
    await runInDurableObject(stub, (room) => {
      // What an earlier version let a room keep: a follower, with no hub installed.
      (room as unknown as { parts: { mimi: { followers: FollowerSet } } }).parts.mimi.followers.add(FOLLOWER, Date.now());
    });
    const before = (await stub.info())?.lastPos;

    const submit = await stub.mimiSubmitMessage(FOLLOWER, `@bob:${FOLLOWER}`, decodeBase64(await device.encrypt("hello")));
    expect(submit).toMatchObject({ code: "notAllowed", description: expect.stringContaining("external sender") });
    const next = await device.commit();
    const update = await stub.mimiUpdate(FOLLOWER, { message: decodeBase64(next.message), groupInfo: decodeBase64(await device.groupInfoAfter(next)) });
    expect(update).toMatchObject({ code: "notAllowed", description: expect.stringContaining("external sender") });
    const proposal = await device.propose({ proposalType: "remove", remove: { removed: 0 } });
    const proposed = await stub.mimiUpdate(FOLLOWER, { message: decodeBase64(proposal) });
    expect(proposed).toMatchObject({ code: "notAllowed", description: expect.stringContaining("external sender") });
    const added = await stub.mimiAddParticipant(s.userId, `@carol:${FOLLOWER}`);
    expect(added).toMatchObject({ ok: false, description: expect.stringContaining("external sender") });

    expect((await stub.info())?.lastPos).toBe(before);
    expect((await stub.mlsExternalSender()).proposals).toEqual([]);
  });
});
