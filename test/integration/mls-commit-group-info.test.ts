// Hostile GroupInfos on an LM m.mls.commit, in workerd with the real Room: random bytes, every
// single-byte corruption of a real GroupInfo at sampled offsets, a GroupInfo for the wrong epoch, one
// signed by another key, and a ratchet tree that is no tree. Each refuses the whole commit with
// 400 M_BAD_JSON and mls_code bad_group_info, and nothing is stored: the group is still uncreated when
// the same commit then comes with its own GroupInfo and is accepted.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeBase64, encodeBase64 } from "../../shared/base64.js";
import { MLS_DEFAULT_ALGORITHM } from "../../shared/mls-algorithm.js";
import { MlsDevice } from "../support/mls-client.js";
import { C, call, enc, register, uploadOk } from "./keys.helpers.js";

describe("a GroupInfo on an LM m.mls.commit", () => {
  it("is refused whole when malformed, for another epoch or signed by another key; the commit then goes through with its own", async () => {
    const s = await register("groupinfo");
    await uploadOk(s, { device_keys: await s.keys.deviceKeys({ mls: true }) });
    const created = await call("POST", `${C}/createRoom`, { token: s.token, body: { creation_content: { encryption: { algorithm: MLS_DEFAULT_ALGORITHM } } } });
    expect(created.status).toBe(200);
    const roomId = created.json["room_id"] as string;
    const device = await MlsDevice.create(s.userId, s.deviceId, { signKey: s.keys.mls.seed, publicKey: s.keys.mls.key.publicKey });
    await device.createGroup(roomId);
    const genesis = await device.commit();
    const good = await device.groupInfoAfter(genesis);
    const goodBytes = decodeBase64(good);

    let txn = 0;
    const send = (content: Record<string, unknown>) => call("PUT", `${C}/rooms/${enc(roomId)}/send/m.mls.commit/gi${txn++}`, { token: s.token, body: { message: genesis.message, ...content } });
    const hostile: Array<[string, Record<string, unknown>]> = [
      ["not base64", { group_info: "%%%" }],
      ["a number", { group_info: 7 }],
      ["signed by another key", { group_info: await device.groupInfoAfter(genesis, (await device.otherSignatureKey()).signKey) }],
      ["a ratchet tree that is no tree", { group_info: good, ratchet_tree: encodeBase64(new Uint8Array([5, 1, 2])) }],
      ["a ratchet tree without a GroupInfo", { ratchet_tree: encodeBase64(new Uint8Array([0])) }],
    ];
    for (const [i, bytes] of fc.sample(fc.uint8Array({ minLength: 0, maxLength: 80 }), 6).entries()) hostile.push([`random bytes ${i}`, { group_info: encodeBase64(bytes) }]);
    for (const at of fc.sample(fc.nat({ max: goodBytes.length - 1 }), 12)) {
      const flipped = goodBytes.slice();
      flipped[at] = (flipped[at] as number) ^ 0x40;
      hostile.push([`byte ${at} flipped`, { group_info: encodeBase64(flipped) }]);
    }
    // A real GroupInfo for the epoch after the one the commit starts: the device moves on locally only.
    device.confirm(genesis);
    hostile.push(["for the wrong epoch", { group_info: await device.groupInfoAfter(await device.commit()) }]);

    for (const [what, content] of hostile) {
      const res = await send(content);
      expect([what, res.status, res.json["errcode"], res.json["mls_code"]]).toEqual([what, 400, "M_BAD_JSON", "bad_group_info"]);
    }
    const commits = await call("GET", `${C}/rooms/${enc(roomId)}/messages?dir=b&limit=50`, { token: s.token });
    expect((commits.json["chunk"] as Array<{ type: string }>).filter((e) => e.type === "m.mls.commit")).toEqual([]);

    const accepted = await send({ group_info: good });
    expect(accepted.status).toBe(200);
  });
});

