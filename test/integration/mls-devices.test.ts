// Outbound.mlsDevices, the device lookup behind the Room's MLS commit checks: which devices may be MLS
// members, and with which signature key. Local devices come from D1; other servers' are asked for over
// federation and must verify here.

import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { encodeBase64 } from "../../shared/base64.js";
import { KeyDevice } from "../support/e2ee-keys.js";
import { noWellKnown, serve, stubFetch } from "./fake-remote.js";
import { C, call, register, uploadOk } from "./keys.helpers.js";

afterEach(() => {
  vi.restoreAllMocks();
});

const QUERY = "https://remote.mls.example:8448/_matrix/federation/v1/user/keys/query";

describe("Outbound.mlsDevices", () => {
  it("answers a local device's MLS signature key, and null for unknown, Olm-only and logged-out devices", async () => {
    const mls = await register("mlsdev");
    await uploadOk(mls, { device_keys: await mls.keys.deviceKeys({ mls: true }) });
    const olm = await register("olmdev");
    await uploadOk(olm, { device_keys: await olm.keys.deviceKeys({ olm: true }) });
    const gone = await register("gonedev");
    await uploadOk(gone, { device_keys: await gone.keys.deviceKeys({ mls: true }) });
    expect((await call("POST", `${C}/logout`, { token: gone.token, body: {} })).status).toBe(200);

    const answer = await env.OUTBOUND.mlsDevices({ [mls.userId]: ["DEV1", "NOPE"], [olm.userId]: ["DEV1"], [gone.userId]: ["DEV1"] });
    expect(answer).toEqual({
      keys: { [mls.userId]: { DEV1: encodeBase64(mls.keys.mls.key.publicKey), NOPE: null }, [olm.userId]: { DEV1: null }, [gone.userId]: { DEV1: null } },
      unreachable: [],
    });
  });

  it("asks another server for its users' devices and keeps only those that verify", async () => {
    const good = await KeyDevice.create("@good:remote.mls.example", "G1");
    const forged = await KeyDevice.create("@forged:remote.mls.example", "F1");
    const forgedObject = { ...(await forged.deviceKeys({ mls: true })), algorithms: ["tampered"] };
    stubFetch(noWellKnown, serve(QUERY, { device_keys: { [good.userId]: { G1: await good.deviceKeys({ mls: true }) }, [forged.userId]: { F1: forgedObject } } }));
    const answer = await env.OUTBOUND.mlsDevices({ [good.userId]: ["G1"], [forged.userId]: ["F1"] });
    expect(answer).toEqual({ keys: { [good.userId]: { G1: encodeBase64(good.mls.key.publicKey) }, [forged.userId]: { F1: null } }, unreachable: [] });
  });

  it("lists the users of a server it could not reach as unreachable, so the Room neither trusts nor condemns their devices", async () => {
    stubFetch(noWellKnown);
    const answer = await env.OUTBOUND.mlsDevices({ "@someone:down.mls.example": ["D1"] });
    expect(answer).toEqual({ keys: { "@someone:down.mls.example": { D1: null } }, unreachable: ["@someone:down.mls.example"] });
  });
});
