// matrix-js-sdk, unmodified, uploading an image to one Switchboard and downloading it, and its
// thumbnail, through the authenticated media URLs the SDK builds; a user on a second server gets
// the same bytes over federation.

import { createClient, type MatrixClient } from "matrix-js-sdk";
import { decode as decodePng } from "fast-png";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pngImage } from "../support/media-images.js";
import { startServers, stopServers, type TestServer } from "../federation/harness.js";

async function account(server: TestServer, username: string): Promise<{ client: MatrixClient; token: string }> {
  const anon = createClient({ baseUrl: server.url });
  const reg = await anon.registerRequest({ username, password: "correct horse battery", auth: { type: "m.login.dummy" } });
  const token = reg.access_token as string;
  return { client: createClient({ baseUrl: server.url, accessToken: token, userId: reg.user_id, deviceId: reg.device_id }), token };
}

describe("matrix-js-sdk media", () => {
  let servers: TestServer[] = [];
  let alice: { client: MatrixClient; token: string };
  let bob: { client: MatrixClient; token: string };

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test"]);
    alice = await account(servers[0] as TestServer, "alice");
    bob = await account(servers[1] as TestServer, "bob");
  });
  afterAll(() => stopServers(servers));

  it("uploads an image with uploadContent and reads it back, and its thumbnail, through the SDK's authenticated URLs", async () => {
    const png = pngImage(240, 180);
    const config = await alice.client.getMediaConfig();
    expect(config["m.upload.size"]).toBeGreaterThanOrEqual(png.byteLength);
    const { content_uri: mxc } = await alice.client.uploadContent(new Blob([png], { type: "image/png" }), { name: "photo.png", type: "image/png" });
    expect(mxc).toMatch(/^mxc:\/\/hub\.test\//);
    // The image goes into a room message, as a client would post it.
    const { room_id: roomId } = await alice.client.createRoom({ name: "Pictures" });
    await alice.client.sendMessage(roomId, { msgtype: "m.image", body: "photo.png", url: mxc, info: { mimetype: "image/png", w: 240, h: 180, size: png.byteLength } } as never);

    const url = alice.client.mxcUrlToHttp(mxc, undefined, undefined, undefined, false, true, true) as string;
    expect(new URL(url).pathname).toMatch(/^\/_matrix\/client\/v1\/media\/download\/hub\.test\//);
    const got = await fetch(url, { headers: { authorization: `Bearer ${alice.token}` } });
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("image/png");
    expect(got.headers.get("content-disposition")).toBe("inline; filename=photo.png");
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(png);

    const thumbUrl = alice.client.mxcUrlToHttp(mxc, 64, 64, "crop", false, true, true) as string;
    const thumb = await fetch(thumbUrl, { headers: { authorization: `Bearer ${alice.token}` } });
    expect(thumb.status).toBe(200);
    const t = decodePng(new Uint8Array(await thumb.arrayBuffer()));
    expect([t.width, t.height]).toEqual([96, 96]);

    // Without the token the authenticated URL is refused.
    expect((await fetch(url)).status).toBe(401);
  });

  it("gives a user of another server the same bytes over federation through the SDK's URL", async () => {
    const png = pngImage(33, 44);
    const { content_uri: mxc } = await alice.client.uploadContent(new Blob([png], { type: "image/png" }), { name: "far.png", type: "image/png" });
    const url = bob.client.mxcUrlToHttp(mxc, undefined, undefined, undefined, false, true, true) as string;
    expect(new URL(url).host).toBe(new URL((servers[1] as TestServer).url).host);
    const got = await fetch(url, { headers: { authorization: `Bearer ${bob.token}` } });
    expect(got.status).toBe(200);
    expect(got.headers.get("content-disposition")).toBe("inline; filename=far.png");
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(png);
  });
});
