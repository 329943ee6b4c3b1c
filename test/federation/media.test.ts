// A remote server's media, seen by a local user: fetched over the federation media endpoints on
// first request, cached in the local R2 bucket and D1, and served from there even with the origin
// down. And the federation endpoints' multipart/mixed answer itself.

import { decode as decodePng } from "fast-png";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { multipartBoundary, parseMultipartMixed } from "../../shared/multipart-mixed.js";
import { pngImage } from "../support/media-images.js";
import { TestClient } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

describe("media over federation", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let alice: TestClient;
  let bob: TestClient;

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test"]);
    [hub, p1] = servers as [TestServer, TestServer];
    alice = await TestClient.register(hub, "alice");
    bob = await TestClient.register(p1, "bob");
  });
  afterAll(() => stopServers(servers));

  async function upload(bytes: Uint8Array, type: string, filename: string): Promise<string> {
    const res = await hub.fetch(`/_matrix/media/v3/upload?filename=${encodeURIComponent(filename)}`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice.accessToken}`, "content-type": type },
      body: bytes,
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { content_uri: string }).content_uri.slice("mxc://".length);
  }

  const asBob = (path: string) => p1.fetch(path, { headers: { authorization: `Bearer ${bob.accessToken}` } });

  it("answers the federation download as multipart/mixed: JSON metadata, then the media with its type and filename", async () => {
    const png = pngImage(30, 20);
    const mediaId = (await upload(png, "image/png", "remote cat.png")).split("/")[1] as string;
    const res = await p1.federation(hub, "GET", `/_matrix/federation/v1/media/download/${mediaId}`);
    expect(res.status).toBe(200);
    const boundary = multipartBoundary(res.headers.get("content-type"));
    expect(boundary).toBeDefined();
    const parts = parseMultipartMixed(boundary as string, new Uint8Array(await res.arrayBuffer()));
    expect(parts?.length).toBe(2);
    const [meta, media] = parts as [NonNullable<typeof parts>[number], NonNullable<typeof parts>[number]];
    expect(meta.headers.get("content-type")).toBe("application/json");
    expect(JSON.parse(new TextDecoder().decode(meta.body))).toEqual({});
    expect(media.headers.get("content-type")).toBe("image/png");
    expect(media.headers.get("content-disposition")).toBe('inline; filename="remote cat.png"');
    expect(media.body).toEqual(png);
    // Unknown media and unsigned requests are refused.
    expect((await p1.federation(hub, "GET", "/_matrix/federation/v1/media/download/nosuchmedia")).status).toBe(404);
    expect((await hub.fetch(`/_matrix/federation/v1/media/download/${mediaId}`)).status).toBe(401);
  });

  it("fetches a remote server's media for a local user, caches it, and serves the cache with the origin down", async () => {
    const png = pngImage(64, 48);
    const ref = await upload(png, "image/png", "shared.png");
    const [, mediaId] = ref.split("/") as [string, string];
    const first = await asBob(`/_matrix/client/v1/media/download/${ref}`);
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("image/png");
    expect(first.headers.get("content-disposition")).toBe("inline; filename=shared.png");
    expect(new Uint8Array(await first.arrayBuffer())).toEqual(png);
    // p1 now holds it: a D1 row naming the origin and an R2 object with the same bytes.
    const row = await (await p1.miniflare().getD1Database("DB")).prepare(`SELECT origin, uploader, r2_key, size FROM media WHERE media_id = ?`).bind(mediaId).first<Record<string, unknown>>();
    expect(row).toEqual({ origin: "hub.test", uploader: null, r2_key: `remote/hub.test/${mediaId}`, size: png.byteLength });
    const bucket = (await p1.miniflare().getR2Bucket("MEDIA")) as unknown as R2Bucket;
    const obj = await bucket.get(`remote/hub.test/${mediaId}`);
    expect(new Uint8Array(await (obj as R2ObjectBody).arrayBuffer())).toEqual(png);
    // A thumbnail is fetched from the origin the same way and cached.
    const thumb = await asBob(`/_matrix/client/v1/media/thumbnail/${ref}?width=32&height=32&method=crop`);
    expect(thumb.status).toBe(200);
    const t = decodePng(new Uint8Array(await thumb.arrayBuffer()));
    expect([t.width, t.height]).toEqual([32, 32]);

    await hub.stop();
    try {
      const cached = await asBob(`/_matrix/client/v1/media/download/${ref}`);
      expect(cached.status).toBe(200);
      expect(new Uint8Array(await cached.arrayBuffer())).toEqual(png);
      const cachedThumb = await asBob(`/_matrix/client/v1/media/thumbnail/${ref}?width=32&height=32&method=crop`);
      expect(cachedThumb.status).toBe(200);
      // Media never fetched before cannot be had while its origin is down: 502, not a hang or a 500.
      const missing = await asBob(`/_matrix/client/v1/media/download/hub.test/neverfetched?timeout_ms=2000`);
      expect(missing.status).toBe(502);
      expect(((await missing.json()) as { errcode: string }).errcode).toBe("M_UNKNOWN");
    } finally {
      await hub.start();
    }
  });

  it("answers a remote server's unknown media 404 M_NOT_FOUND, and does not cache the miss as media", async () => {
    const res = await asBob("/_matrix/client/v1/media/download/hub.test/doesnotexist");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { errcode: string }).errcode).toBe("M_NOT_FOUND");
    const row = await (await p1.miniflare().getD1Database("DB")).prepare(`SELECT COUNT(*) AS n FROM media WHERE media_id = 'doesnotexist'`).first<{ n: number }>();
    expect(row?.n).toBe(0);
  });

  it("does not serve media it only cached: the federation endpoints serve a server's own uploads", async () => {
    const ref = await upload(pngImage(5, 5), "image/png", "own.png");
    const mediaId = ref.split("/")[1] as string;
    expect((await asBob(`/_matrix/client/v1/media/download/${ref}`)).status).toBe(200);
    // p1 has it cached, but asked over federation it is not p1's to give.
    expect((await hub.federation(p1, "GET", `/_matrix/federation/v1/media/download/${mediaId}`)).status).toBe(404);
  });
});
