import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServers, stopServers, type TestServer } from "./harness.js";

describe("federation harness", () => {
  let servers: TestServer[] = [];
  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "p2.test"]);
  });
  afterAll(() => stopServers(servers));

  it("runs three servers, each with its own name and signing key", async () => {
    const docs = await Promise.all(
      servers.map(async (s) => (await (await s.fetch("/_matrix/key/v2/server")).json()) as { server_name: string; verify_keys: object }),
    );
    expect(docs.map((d) => d.server_name)).toEqual(["hub.test", "p1.test", "p2.test"]);
    const keys = new Set(docs.map((d) => JSON.stringify(d.verify_keys)));
    expect(keys.size).toBe(3);
  });

  it("keeps a stopped server's state and answers again after a restart", async () => {
    const p1 = servers[1]!;
    await p1.stop();
    await expect(p1.fetch("/_matrix/key/v2/server")).rejects.toThrow();
    await p1.start();
    expect((await p1.fetch("/_matrix/key/v2/server")).status).toBe(200);
  });
});
