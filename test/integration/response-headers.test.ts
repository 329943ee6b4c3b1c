// Headers every Worker response carries, success or Matrix error: CORS for browser clients, and
// Server-Timing with the time spent inside the Worker (the bench splits latency with it).

import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

async function fetchHub(method: string, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return exports.default.fetch(new Request(`https://hub.test${path}`, { method, headers }));
}

function handlerMs(res: Response): number {
  const m = /^handler;dur=(\d+)$/.exec(res.headers.get("server-timing") ?? "");
  if (!m) throw new Error(`no handler Server-Timing: ${String(res.headers.get("server-timing"))}`);
  return Number(m[1]);
}

describe("response headers", () => {
  it("adds CORS and the handler's Server-Timing to a successful answer", async () => {
    const started = Date.now();
    const res = await fetchHub("GET", "/_matrix/key/v2/server");
    const elapsed = Date.now() - started;
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(handlerMs(res)).toBeLessThanOrEqual(elapsed);
  });

  it("adds them to Matrix errors too: an unknown path and a wrong method", async () => {
    for (const [method, path, status] of [
      ["GET", "/_matrix/federation/v1/nonsense", 404],
      ["DELETE", "/_matrix/key/v2/server", 405],
    ] as const) {
      const res = await fetchHub(method, path);
      expect(res.status).toBe(status);
      expect(((await res.json()) as { errcode: string }).errcode).toBe("M_UNRECOGNIZED");
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(handlerMs(res)).toBeGreaterThanOrEqual(0);
    }
  });

  it("answers a CORS preflight with 204 and the allowed methods and headers", async () => {
    const res = await fetchHub("OPTIONS", "/_matrix/client/v3/sync", { origin: "https://app.example", "access-control-request-method": "GET" });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-methods")).toContain("GET");
    expect(res.headers.get("access-control-allow-headers")).toContain("Authorization");
    expect(handlerMs(res)).toBeGreaterThanOrEqual(0);
  });
});
