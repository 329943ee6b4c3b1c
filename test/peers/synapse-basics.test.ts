// Switchboard and a real Synapse as federation peers: each fetches the other's server keys and
// accepts the other's X-Matrix-signed requests, and profile queries cross in both directions.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopServers, type TestServer } from "../federation/harness.js";
import { startPeerPair, type Homeserver, type User } from "./peer.js";

describe("Switchboard and Synapse: server keys, signed requests, version and profiles", () => {
  let syn: Homeserver;
  let sb: TestServer;
  let alice: User; // on Synapse
  let bob: User; // on Switchboard

  beforeAll(async () => {
    ({ syn, sb, alice, bob } = await startPeerPair(0, "basics"));
  });

  afterAll(async () => {
    if (sb) await stopServers([sb]);
  });

  it("serves the federation version endpoint over HTTPS, as Synapse serves its own", async () => {
    const ours = await sb.fetch("/_matrix/federation/v1/version");
    expect(sb.url.startsWith("https://")).toBe(true);
    expect(ours.status).toBe(200);
    expect(((await ours.json()) as { server: { name: string } }).server.name).toBe("Switchboard");
    const theirs = await syn.fetch("/_matrix/federation/v1/version");
    expect(((await theirs.json()) as { server: { name: string } }).server.name).toBe("Synapse");
  });

  it("lets Synapse fetch Switchboard's server key over HTTPS (Synapse's key query answers it, signed by Switchboard)", async () => {
    const own = (await (await sb.fetch("/_matrix/key/v2/server")).json()) as { verify_keys: Record<string, unknown> };
    const keyId = Object.keys(own.verify_keys)[0] as string;
    // A minimum validity makes Synapse fetch the key now rather than answer from its (empty) cache.
    const res = await syn.fetch("/_matrix/key/v2/query", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ server_keys: { [sb.name]: { [keyId]: { minimum_valid_until_ts: Date.now() } } } }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { server_keys: Array<{ server_name: string; verify_keys: Record<string, unknown>; signatures: Record<string, unknown> }> };
    const doc = body.server_keys.find((d) => d.server_name === sb.name);
    expect(doc, JSON.stringify(body)).toBeDefined();
    expect(doc?.verify_keys).toEqual(own.verify_keys);
    expect(Object.keys(doc?.signatures ?? {})).toContain(sb.name);
  });

  it("lets Switchboard fetch Synapse's server key (Switchboard's notary endpoint answers it, signed by Synapse)", async () => {
    const res = await sb.fetch(`/_matrix/key/v2/query/${encodeURIComponent(syn.name)}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { server_keys: Array<{ server_name: string; verify_keys: Record<string, unknown>; signatures: Record<string, unknown> }> };
    const theirs = (await (await syn.fetch("/_matrix/key/v2/server")).json()) as { verify_keys: Record<string, unknown> };
    expect(body.server_keys[0]?.server_name).toBe(syn.name);
    expect(body.server_keys[0]?.verify_keys).toEqual(theirs.verify_keys);
    expect(Object.keys(body.server_keys[0]?.signatures ?? {})).toContain(syn.name);
  });

  it("answers a Synapse user's profile query about a Switchboard user (Synapse's signed request, verified by Switchboard)", async () => {
    await bob.request("PUT", `/profile/${encodeURIComponent(bob.userId)}/displayname`, { displayname: "Bob on Switchboard" });
    const profile = await alice.request<{ displayname?: string }>("GET", `/profile/${encodeURIComponent(bob.userId)}`);
    expect(profile.displayname).toBe("Bob on Switchboard");
    const field = await alice.request<{ displayname?: string }>("GET", `/profile/${encodeURIComponent(bob.userId)}/displayname`);
    expect(field.displayname).toBe("Bob on Switchboard");
  });

  it("gets a Synapse user's profile for a Switchboard user (Switchboard's signed request, verified by Synapse)", async () => {
    await alice.request("PUT", `/profile/${encodeURIComponent(alice.userId)}/displayname`, { displayname: "Alice on Synapse" });
    const profile = await bob.request<{ displayname?: string }>("GET", `/profile/${encodeURIComponent(alice.userId)}`);
    expect(profile.displayname).toBe("Alice on Synapse");
  });

  it("answers unknown users' profile queries from Synapse with 404 M_NOT_FOUND, which Synapse passes on", async () => {
    const res = await alice.server.fetch(`/_matrix/client/v3/profile/${encodeURIComponent(`@nobody:${sb.name}`)}`, { headers: { authorization: `Bearer ${alice.accessToken}` } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { errcode: string }).errcode).toBe("M_NOT_FOUND");
  });
});
