// Body size caps for what peers send us: request bodies (readBodyBytes) and remote responses
// (fetchBounded). Whether a length is declared, missing or untrue, no more than the cap is returned.

import { afterEach, describe, expect, it, vi } from "vitest";
import { MatrixError } from "../../shared/errors.js";
import { readBodyBytes } from "../../workers/http.js";
import { fetchBounded, RemoteFetchError } from "../../workers/remote-fetch.js";

/** A body stream of `n` bytes in 100-byte chunks, with no length the runtime could know. */
function stream(n: number): ReadableStream<Uint8Array> {
  let left = n;
  return new ReadableStream({
    pull(c) {
      if (left <= 0) return c.close();
      const k = Math.min(100, left);
      left -= k;
      c.enqueue(new Uint8Array(k).fill(0x61));
    },
  });
}

function request(body: BodyInit, headers: Record<string, string> = {}): Request {
  return new Request("https://hub.test/x", { method: "PUT", body, headers });
}

describe("request bodies", () => {
  it("returns a body within the cap whether or not its length is declared", async () => {
    expect((await readBodyBytes(request("x".repeat(500), { "content-length": "500" }), 1000)).byteLength).toBe(500);
    expect((await readBodyBytes(request(stream(500)), 1000)).byteLength).toBe(500);
  });

  it("refuses with 413 M_TOO_LARGE a body over the cap, declared or counted", async () => {
    await expect(readBodyBytes(request("x".repeat(1001), { "content-length": "1001" }), 1000)).rejects.toMatchObject({ status: 413, errcode: "M_TOO_LARGE" });
    await expect(readBodyBytes(request(stream(1001)), 1000)).rejects.toMatchObject({ status: 413, errcode: "M_TOO_LARGE" });
  });

  it("counts a compressed body as it is read, since it may decode to more than it declared", async () => {
    const err = await readBodyBytes(request(stream(2000), { "content-encoding": "gzip" }), 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MatrixError);
    expect((err as MatrixError).status).toBe(413);
  });
});

describe("remote responses", () => {
  afterEach(() => vi.restoreAllMocks());

  function answer(body: BodyInit, headers: Record<string, string> = {}): void {
    vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response(body, { headers }));
  }

  it("returns a response within the cap whether or not its length is declared", async () => {
    answer("y".repeat(700), { "content-length": "700" });
    expect((await fetchBounded("https://remote.test/", {}, 1000, 1000)).bytes.byteLength).toBe(700);
    answer(stream(700));
    expect((await fetchBounded("https://remote.test/", {}, 1000, 1000)).bytes.byteLength).toBe(700);
  });

  it("refuses a response over the cap, declared, counted, or declared smaller than it is", async () => {
    answer("y".repeat(1001), { "content-length": "1001" });
    await expect(fetchBounded("https://remote.test/", {}, 1000, 1000)).rejects.toThrow(RemoteFetchError);
    answer(stream(1001));
    await expect(fetchBounded("https://remote.test/", {}, 1000, 1000)).rejects.toThrow(/larger than 1000 bytes/);
    answer(stream(5000), { "content-length": "10", "content-encoding": "gzip" });
    await expect(fetchBounded("https://remote.test/", {}, 1000, 1000)).rejects.toThrow(/larger than 1000 bytes/);
  });
});
