// The content repository against one real server (workerd, R2 and D1 bindings): uploads both ways,
// authenticated downloads with their headers, thumbnails, config, limits and errors. The test
// server's MAX_UPLOAD_BYTES is 1 MiB (vitest.workers.config.ts).

import { env, exports } from "cloudflare:workers";
import { decode as decodeJpeg } from "jpeg-js";
import { decode as decodePng } from "fast-png";
import { describe, expect, it } from "vitest";
import { call, register } from "./client-helpers.js";
import { gifImage, jpegImage, pngImage } from "../support/media-images.js";

const MAX = 1024 * 1024;
const DL = "/_matrix/client/v1/media/download";
const TH = "/_matrix/client/v1/media/thumbnail";

async function raw(method: string, path: string, token?: string, body?: BodyInit, headers: Record<string, string> = {}): Promise<Response> {
  const h: Record<string, string> = { ...headers };
  if (token) h["authorization"] = `Bearer ${token}`;
  return exports.default.fetch(new Request(`https://hub.test${path}`, { method, headers: h, body }));
}

async function upload(token: string, bytes: Uint8Array, contentType: string, filename?: string): Promise<string> {
  const q = filename === undefined ? "" : `?filename=${encodeURIComponent(filename)}`;
  const res = await raw("POST", `/_matrix/media/v3/upload${q}`, token, bytes, { "content-type": contentType });
  const json = (await res.json()) as { content_uri: string };
  expect(res.status, JSON.stringify(json)).toBe(200);
  return json.content_uri;
}

/** "mxc://hub.test/abc" -> "hub.test/abc". */
const refOf = (mxc: string) => mxc.slice("mxc://".length);

async function mediaRows(): Promise<number> {
  return (await env.DB.prepare(`SELECT COUNT(*) AS n FROM media`).first<{ n: number }>())?.n ?? -1;
}

async function errorOf(res: Response): Promise<{ status: number; errcode: unknown }> {
  const body = (await res.json()) as { errcode?: unknown };
  return { status: res.status, errcode: body.errcode };
}

describe("media upload and download", () => {
  it("stores an upload in R2 and serves it back byte for byte with its type, filename and sandboxing headers", async () => {
    const alice = await register("mediaup");
    const png = pngImage(40, 30);
    const mxc = await upload(alice.token, png, "image/png", "cat.png");
    expect(mxc).toMatch(/^mxc:\/\/hub\.test\/[A-Za-z0-9_-]+$/);
    const res = await raw("GET", `${DL}/${refOf(mxc)}`, alice.token);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(res.headers.get("content-disposition")).toBe("inline; filename=cat.png");
    expect(res.headers.get("content-security-policy")).toContain("sandbox");
    expect(res.headers.get("cross-origin-resource-policy")).toBe("cross-origin");
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(png);
    // Another user of the server may read it too: media is not per-user.
    const bob = await register("mediaup");
    expect((await raw("GET", `${DL}/${refOf(mxc)}`, bob.token)).status).toBe(200);
  });

  it("serves types a browser could run as attachments, and encodes non-ASCII filenames per RFC 6266", async () => {
    const alice = await register("mediatype");
    const html = await upload(alice.token, new TextEncoder().encode("<script>alert(1)</script>"), "text/html", "page.html");
    const res = await raw("GET", `${DL}/${refOf(html)}`, alice.token);
    expect(res.headers.get("content-disposition")).toBe("attachment; filename=page.html");
    const named = await upload(alice.token, new TextEncoder().encode("hej"), "text/plain; charset=utf-8", "smörgåsbord räksmörgås.txt");
    const got = await raw("GET", `${DL}/${refOf(named)}`, alice.token);
    expect(got.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(got.headers.get("content-disposition")).toBe(`inline; filename*=utf-8''${encodeURIComponent("smörgåsbord räksmörgås.txt")}`);
  });

  it("names the file after the download path's last segment when a client gives one", async () => {
    const alice = await register("medianame");
    const mxc = await upload(alice.token, new TextEncoder().encode("data"), "application/octet-stream", "orig.bin");
    const res = await raw("GET", `${DL}/${refOf(mxc)}/renamed.bin`, alice.token);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toBe("attachment; filename=renamed.bin");
  });

  it("keeps an upload without filename or content type as application/octet-stream, unnamed", async () => {
    const alice = await register("medianone");
    const res = await exports.default.fetch(new Request("https://hub.test/_matrix/media/v3/upload", { method: "POST", headers: { authorization: `Bearer ${alice.token}` }, body: new Uint8Array([1, 2, 3]) }));
    const mxc = ((await res.json()) as { content_uri: string }).content_uri;
    const got = await raw("GET", `${DL}/${refOf(mxc)}`, alice.token);
    expect(got.headers.get("content-type")).toBe("application/octet-stream");
    expect(got.headers.get("content-disposition")).toBe("attachment");
  });

  it("requires an access token for upload, create, download, thumbnail and config", async () => {
    const alice = await register("mediaauth");
    const mxc = await upload(alice.token, pngImage(4, 4), "image/png");
    const before = await mediaRows();
    for (const [method, path] of [
      ["POST", "/_matrix/media/v3/upload"],
      ["POST", "/_matrix/media/v1/create"],
      ["GET", `${DL}/${refOf(mxc)}`],
      ["GET", `${TH}/${refOf(mxc)}?width=32&height=32`],
      ["GET", "/_matrix/client/v1/media/config"],
      ["GET", "/_matrix/media/v3/config"],
    ] as const) {
      expect(await errorOf(await raw(method, path, undefined, method === "POST" ? new Uint8Array([1]) : undefined)), `${method} ${path}`).toEqual({ status: 401, errcode: "M_MISSING_TOKEN" });
      expect((await errorOf(await raw(method, path, "nope", method === "POST" ? new Uint8Array([1]) : undefined))).errcode).toBe("M_UNKNOWN_TOKEN");
    }
    expect(await mediaRows()).toBe(before);
  });

  it("answers the upload limit on both config paths", async () => {
    const alice = await register("mediaconf");
    for (const path of ["/_matrix/client/v1/media/config", "/_matrix/media/v3/config"]) {
      const r = await call("GET", path, alice.token);
      expect(r).toEqual({ status: 200, json: { "m.upload.size": MAX } });
    }
  });

  it("refuses an upload over MAX_UPLOAD_BYTES with 413 M_TOO_LARGE and stores nothing, declared or streamed", async () => {
    const alice = await register("mediabig");
    const before = await mediaRows();
    const objects = (await env.MEDIA.list()).objects.length;
    expect(await errorOf(await raw("POST", "/_matrix/media/v3/upload", alice.token, new Uint8Array(MAX + 1), { "content-type": "application/octet-stream" }))).toEqual({ status: 413, errcode: "M_TOO_LARGE" });
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new Uint8Array(MAX / 4));
        c.close();
      },
    });
    const res = await exports.default.fetch(new Request("https://hub.test/_matrix/media/v3/upload", { method: "POST", headers: { authorization: `Bearer ${alice.token}` }, body: stream, duplex: "half" } as RequestInit));
    expect(await errorOf(res)).toEqual({ status: 413, errcode: "M_TOO_LARGE" });
    expect(await mediaRows()).toBe(before);
    expect((await env.MEDIA.list()).objects.length).toBe(objects);
    // Exactly the limit is fine.
    await upload(alice.token, new Uint8Array(MAX), "application/octet-stream");
  });

  it("answers unknown and malformed media IDs 404 M_NOT_FOUND on download and thumbnail", async () => {
    const alice = await register("media404");
    for (const path of [`${DL}/hub.test/nosuchmedia`, `${DL}/hub.test/bad%20id`, `${TH}/hub.test/nosuchmedia?width=32&height=32`, `${DL}/not%20a%20server/abc`]) {
      expect(await errorOf(await raw("GET", path, alice.token)), path).toEqual({ status: 404, errcode: "M_NOT_FOUND" });
    }
  });

  it("refuses media of a server at an address it will not contact with 403 M_FORBIDDEN, not a gateway error", async () => {
    const alice = await register("mediaref");
    for (const server of ["169.254.169.254", "127.0.0.1", "[::1]"]) {
      expect(await errorOf(await raw("GET", `${DL}/${server}/abc`, alice.token)), server).toEqual({ status: 403, errcode: "M_FORBIDDEN" });
    }
  });

  it("refuses a malformed Content-Type or filename with 400 and stores nothing", async () => {
    const alice = await register("mediabad");
    const before = await mediaRows();
    expect((await errorOf(await raw("POST", "/_matrix/media/v3/upload", alice.token, new Uint8Array([1]), { "content-type": "not a type" }))).status).toBe(400);
    expect((await errorOf(await raw("POST", "/_matrix/media/v3/upload?filename=a%2Fb", alice.token, new Uint8Array([1]), { "content-type": "text/plain" }))).errcode).toBe("M_INVALID_PARAM");
    expect((await errorOf(await raw("POST", "/_matrix/media/v3/upload?filename=a%0Ab", alice.token, new Uint8Array([1]), { "content-type": "text/plain" }))).errcode).toBe("M_INVALID_PARAM");
    expect(await mediaRows()).toBe(before);
  });
});

describe("asynchronous upload (create, then PUT)", () => {
  it("reserves an mxc URI that only its creator may fill, exactly once", async () => {
    const alice = await register("mediaasync");
    const bob = await register("mediaasync");
    const created = await call("POST", "/_matrix/media/v1/create", alice.token, {});
    expect(created.status).toBe(200);
    const mxc = created.json["content_uri"] as string;
    expect(created.json["unused_expires_at"]).toBeGreaterThan(Date.now() + 60 * 60 * 1000);
    const ref = refOf(mxc);
    expect(await errorOf(await raw("GET", `${DL}/${ref}?timeout_ms=0`, alice.token))).toEqual({ status: 504, errcode: "M_NOT_YET_UPLOADED" });
    const put = (token: string, body: string) => raw("PUT", `/_matrix/media/v3/upload/${ref}?filename=later.txt`, token, body, { "content-type": "text/plain" });
    expect(await errorOf(await put(bob.token, "bob's"))).toEqual({ status: 403, errcode: "M_FORBIDDEN" });
    // A download waiting for the upload gets it as soon as it lands.
    const waiting = raw("GET", `${DL}/${ref}?timeout_ms=10000`, alice.token);
    await new Promise((r) => setTimeout(r, 300));
    const ok = await put(alice.token, "alice's");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({});
    const got = await waiting;
    expect(got.status).toBe(200);
    expect(await got.text()).toBe("alice's");
    expect(got.headers.get("content-disposition")).toBe("inline; filename=later.txt");
    expect(await errorOf(await put(alice.token, "again"))).toEqual({ status: 409, errcode: "M_CANNOT_OVERWRITE_MEDIA" });
    expect(await (await raw("GET", `${DL}/${ref}`, alice.token)).text()).toBe("alice's");
  });

  it("answers a PUT to an unknown or foreign media ID 404 M_NOT_FOUND, and an oversize one 413 leaving the reservation open", async () => {
    const alice = await register("mediaput");
    expect(await errorOf(await raw("PUT", "/_matrix/media/v3/upload/hub.test/unknownmedia", alice.token, "x"))).toEqual({ status: 404, errcode: "M_NOT_FOUND" });
    expect(await errorOf(await raw("PUT", "/_matrix/media/v3/upload/elsewhere.example/abc", alice.token, "x"))).toEqual({ status: 404, errcode: "M_NOT_FOUND" });
    const ref = refOf((await call("POST", "/_matrix/media/v1/create", alice.token, {})).json["content_uri"] as string);
    expect(await errorOf(await raw("PUT", `/_matrix/media/v3/upload/${ref}`, alice.token, new Uint8Array(MAX + 1)))).toEqual({ status: 413, errcode: "M_TOO_LARGE" });
    expect((await raw("PUT", `/_matrix/media/v3/upload/${ref}`, alice.token, new Uint8Array([7]))).status).toBe(200);
  });

  it("limits how many reservations a user may hold unfilled with 429 M_LIMIT_EXCEEDED", async () => {
    const alice = await register("mediapending");
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await call("POST", "/_matrix/media/v1/create", alice.token, {})).status);
    expect(statuses).toEqual(Array(10).fill(200));
    const last = await call("POST", "/_matrix/media/v1/create", alice.token, {});
    expect(last.status).toBe(429);
    expect(last.json["errcode"]).toBe("M_LIMIT_EXCEEDED");
    expect(last.json["retry_after_ms"]).toBeGreaterThan(0);
  });
});

describe("thumbnails", () => {
  it("crops a PNG to the requested square and scales to fit a box, as PNG", async () => {
    const alice = await register("thumbpng");
    const ref = refOf(await upload(alice.token, pngImage(400, 300), "image/png"));
    const crop = await raw("GET", `${TH}/${ref}?width=96&height=96&method=crop`, alice.token);
    expect(crop.status).toBe(200);
    expect(crop.headers.get("content-type")).toBe("image/png");
    expect(crop.headers.get("content-disposition")).toBe("inline; filename=thumbnail.png");
    const c = decodePng(new Uint8Array(await crop.arrayBuffer()));
    expect([c.width, c.height]).toEqual([96, 96]);
    const scale = await raw("GET", `${TH}/${ref}?width=320&height=240&method=scale`, alice.token);
    const s = decodePng(new Uint8Array(await scale.arrayBuffer()));
    expect([s.width, s.height]).toEqual([320, 240]);
  });

  it("thumbnails a JPEG as JPEG and a GIF's first frame as PNG, keeping the picture's colours", async () => {
    const alice = await register("thumbjpeg");
    const jpeg = refOf(await upload(alice.token, jpegImage(640, 480), "image/jpeg"));
    const res = await raw("GET", `${TH}/${jpeg}?width=300&height=200&method=scale`, alice.token);
    expect(res.headers.get("content-type")).toBe("image/jpeg");
    const j = decodeJpeg(new Uint8Array(await res.arrayBuffer()), { useTArray: true });
    expect([j.width, j.height]).toEqual([320, 240]);
    // The test image is red on the left half and blue on the right.
    expect(j.data[0]).toBeGreaterThan(200);
    expect(j.data[(j.width - 1) * 4 + 2]).toBeGreaterThan(200);
    const gif = refOf(await upload(alice.token, gifImage(50, 40), "image/gif"));
    const g = await raw("GET", `${TH}/${gif}?width=32&height=32&method=crop`, alice.token);
    expect(g.headers.get("content-type")).toBe("image/png");
    const gp = decodePng(new Uint8Array(await g.arrayBuffer()));
    expect([gp.width, gp.height]).toEqual([32, 32]);
  });

  it("makes each size once: the second request is served from the R2 cache", async () => {
    const alice = await register("thumbcache");
    const ref = refOf(await upload(alice.token, pngImage(200, 200), "image/png"));
    const mediaId = ref.split("/")[1] as string;
    const first = new Uint8Array(await (await raw("GET", `${TH}/${ref}?width=50&height=50&method=crop`, alice.token)).arrayBuffer());
    const cached = await env.MEDIA.list({ prefix: `thumb/hub.test/${mediaId}/` });
    expect(cached.objects.map((o) => o.key)).toEqual([`thumb/hub.test/${mediaId}/96x96-crop`]);
    // Requests that snap to the same size share the cached thumbnail.
    const again = new Uint8Array(await (await raw("GET", `${TH}/${ref}?width=90&height=80&method=crop`, alice.token)).arrayBuffer());
    expect(again).toEqual(first);
    expect((await env.MEDIA.list({ prefix: `thumb/hub.test/${mediaId}/` })).objects.length).toBe(1);
  });

  it("never scales a small image up", async () => {
    const alice = await register("thumbsmall");
    const ref = refOf(await upload(alice.token, pngImage(20, 10), "image/png"));
    const s = decodePng(new Uint8Array(await (await raw("GET", `${TH}/${ref}?width=800&height=600`, alice.token)).arrayBuffer()));
    expect([s.width, s.height]).toEqual([20, 10]);
  });

  it("refuses to thumbnail what is not an image, a corrupt image, and malformed sizes with 400", async () => {
    const alice = await register("thumbbad");
    const text = refOf(await upload(alice.token, new TextEncoder().encode("hello"), "text/plain"));
    expect(await errorOf(await raw("GET", `${TH}/${text}?width=32&height=32`, alice.token))).toEqual({ status: 400, errcode: "M_UNKNOWN" });
    const broken = refOf(await upload(alice.token, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]), "image/png"));
    expect(await errorOf(await raw("GET", `${TH}/${broken}?width=32&height=32`, alice.token))).toEqual({ status: 400, errcode: "M_UNKNOWN" });
    const png = refOf(await upload(alice.token, pngImage(8, 8), "image/png"));
    expect((await errorOf(await raw("GET", `${TH}/${png}?height=32`, alice.token))).errcode).toBe("M_MISSING_PARAM");
    for (const q of ["width=0&height=32", "width=-3&height=32", "width=abc&height=32", "width=32&height=32&method=stretch", "width=32&height=32&animated=maybe"]) {
      expect(await errorOf(await raw("GET", `${TH}/${png}?${q}`, alice.token)), q).toEqual({ status: 400, errcode: "M_INVALID_PARAM" });
    }
  });

  it("refuses a PNG claiming more pixels than it may decode with 413 M_TOO_LARGE", async () => {
    const alice = await register("thumbbomb");
    const png = pngImage(4, 4);
    // Rewrite IHDR's size to 20000 x 20000 (the CRC no longer matches, but the size is read first).
    const bomb = png.slice();
    const v = new DataView(bomb.buffer);
    v.setUint32(16, 20_000);
    v.setUint32(20, 20_000);
    const ref = refOf(await upload(alice.token, bomb, "image/png"));
    expect(await errorOf(await raw("GET", `${TH}/${ref}?width=32&height=32`, alice.token))).toEqual({ status: 413, errcode: "M_TOO_LARGE" });
  });
});

describe("federation media endpoints", () => {
  it("refuse requests without a valid X-Matrix signature with 401 M_UNAUTHORIZED", async () => {
    const alice = await register("mediafed");
    const id = refOf(await upload(alice.token, pngImage(4, 4), "image/png")).split("/")[1] as string;
    for (const path of [`/_matrix/federation/v1/media/download/${id}`, `/_matrix/federation/v1/media/thumbnail/${id}?width=32&height=32`]) {
      expect(await errorOf(await raw("GET", path))).toEqual({ status: 401, errcode: "M_UNAUTHORIZED" });
      expect(await errorOf(await raw("GET", path, alice.token))).toEqual({ status: 401, errcode: "M_UNAUTHORIZED" });
    }
  });
});
