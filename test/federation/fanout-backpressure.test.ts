// A hub room keeps its fan-out backlog bounded by pushing back on senders (durable-objects/
// room-backpressure.ts): while the newest event is FANOUT_BACKLOG_LIMIT or more events ahead of a
// destination that is still delivering, participants' transactions are answered 429
// M_LIMIT_EXCEEDED with retry_after_ms. Nothing accepted is lost, the same transaction is taken once
// delivery caught up, a destination that is down does not count, and a participant's queue waits
// the time asked for and sends the same LPDUs again.

import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../../shared/canonical-json.js";
import type { ServerName } from "../../shared/ids.js";
import { buildLpdu } from "../../shared/lpdu.js";
import { signJson } from "../../shared/signed-json.js";
import { formatSigningKeySecret, parseSigningKeySecret, type SigningKey } from "../../shared/signing-key.js";
import { signRequest } from "../../shared/x-matrix.js";
import { eventually, storedEvents, TestClient } from "./client.js";
import { LM_PREFIX } from "./forge.js";
import { freePort, startServers, stopServers, type TestServer } from "./harness.js";

const LIMIT = 5;
const BINDINGS = { FANOUT_BACKLOG_LIMIT: String(LIMIT), FEDERATION_RETRY_BASE_MS: "100", FEDERATION_RETRY_MAX_MS: "1000" };
const ADMIN = { authorization: "Bearer test-admin-token" };
const LM_VER = "org.matrix.i-d.ralston-mimi-linearized-matrix.02";

/** A remote server played by the test: publishes its key, answers /send after `delayMs`, and notes the messages it was sent. */
class FakeServer {
  delayMs = 0;
  /** Message bodies received, per room, in the order they arrived. */
  readonly received = new Map<string, string[]>();
  private server: Server | undefined;
  private constructor(
    readonly name: string,
    readonly key: SigningKey,
    readonly url: string,
  ) {}

  static async start(name: string): Promise<FakeServer> {
    const key = await parseSigningKeySecret(formatSigningKeySecret(crypto.getRandomValues(new Uint8Array(32)), "fake1"));
    const port = await freePort();
    const f = new FakeServer(name, key, `http://127.0.0.1:${port}`);
    f.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        void (async () => {
          if (req.url === "/_matrix/key/v2/server") {
            const doc = await signJson({ server_name: name, valid_until_ts: Date.now() + 3_600_000, verify_keys: { [key.keyId]: { key: key.publicKeyBase64 } }, old_verify_keys: {} }, name, key);
            res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(doc));
            return;
          }
          if (req.url?.includes("/send/")) {
            await new Promise((r) => setTimeout(r, f.delayMs));
            const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { pdus?: Array<{ room_id: string; type: string; content: { body?: string } }> };
            for (const p of body.pdus ?? []) {
              if (p.type !== "m.room.message" || typeof p.content.body !== "string") continue;
              const list = f.received.get(p.room_id) ?? [];
              list.push(p.content.body);
              f.received.set(p.room_id, list);
            }
            res.writeHead(200, { "content-type": "application/json" }).end('{"failed_pdus":{}}');
            return;
          }
          res.writeHead(404, { "content-type": "application/json" }).end('{"errcode":"M_UNRECOGNIZED"}');
        })();
      });
    });
    await new Promise<void>((r) => f.server?.listen(port, "127.0.0.1", r));
    return f;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }

  /** A federation request signed as this server. */
  async fed(to: TestServer, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const auth = await signRequest(this.key, this.name as ServerName, to.name as ServerName, method, path, body);
    const res = await fetch(`${to.url}${path}`, {
      method,
      headers: { authorization: auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : canonicalJson(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  user(local = "user"): string {
    return `@${local}:${this.name}`;
  }

  async join(hub: TestServer, roomId: string): Promise<void> {
    const user = this.user();
    const make = await this.fed(hub, "GET", `/_matrix/federation/v1/make_join/${encodeURIComponent(roomId)}/${encodeURIComponent(user)}?ver=${LM_VER}`);
    expect(make.status).toBe(200);
    const lpdu = await buildLpdu({ room_id: roomId, type: "m.room.member", state_key: user, sender: user, origin_server_ts: Date.now(), content: { membership: "join" } }, this.key, hub.name);
    const join = await this.fed(hub, "POST", `${LM_PREFIX}/send_join/${this.name}-${Date.now()}`, lpdu);
    expect(join.status).toBe(200);
  }

  async messages(hub: TestServer, roomId: string, bodies: string[]): Promise<unknown[]> {
    return Promise.all(
      bodies.map((body) => buildLpdu({ room_id: roomId, type: "m.room.message", sender: this.user(), origin_server_ts: Date.now(), content: { msgtype: "m.text", body } }, this.key, hub.name)),
    );
  }

  send(hub: TestServer, txnId: string, pdus: unknown[]): Promise<{ status: number; body: Record<string, unknown> }> {
    return this.fed(hub, "PUT", `${LM_PREFIX}/send/${encodeURIComponent(txnId)}`, { pdus });
  }

  /** Sends the transaction until it is taken, waiting the retry_after_ms of each 429 as a sender must; returns how many 429s it got. */
  async sendHonouringPushBack(hub: TestServer, txnId: string, pdus: unknown[], timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (let pushedBack = 0; ; pushedBack++) {
      const res = await this.send(hub, txnId, pdus);
      if (res.status === 200) {
        expect(res.body["failed_pdus"]).toEqual({});
        return pushedBack;
      }
      expect(res.status, JSON.stringify(res.body)).toBe(429);
      if (Date.now() > deadline) throw new Error(`${txnId} still pushed back after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, res.body["retry_after_ms"] as number));
    }
  }
}

/** The bodies of the room's m.room.message events as `server` stored them, in its order. */
async function messageBodies(server: TestServer, roomId: string): Promise<string[]> {
  return (await storedEvents(server, roomId)).filter((e) => e.pdu.type === "m.room.message").map((e) => String(e.pdu.content["body"]));
}

describe("fan-out push-back", () => {
  let servers: TestServer[] = [];
  let slow: FakeServer;
  let gone: FakeServer;

  beforeAll(async () => {
    slow = await FakeServer.start("slow.test");
    gone = await FakeServer.start("gone.test");
    servers = await startServers(["hub.test", "p1.test"], { bindings: BINDINGS, extraHosts: { [slow.name]: slow.url, [gone.name]: gone.url } });
  });
  afterAll(async () => {
    await slow.stop();
    await gone.stop();
    await stopServers(servers);
  });

  it("answers 429 M_LIMIT_EXCEEDED with retry_after_ms while a delivering destination is the limit behind, loses nothing, and takes the same transaction once delivery caught up", async () => {
    const [hub, p1] = servers as [TestServer, TestServer];
    const alice = await TestClient.register(hub, "alice");
    const bob = await TestClient.register(p1, "bob");
    const roomId = (await alice.createRoom({ preset: "public_chat" })).room_id;
    await bob.join(roomId, hub.name);
    // slow.test takes 1.5 s to answer each transaction: it keeps delivering, slowly.
    slow.delayMs = 1_500;
    await slow.join(hub, roomId);

    const first = Array.from({ length: 10 }, (_, i) => `first ${i}`);
    const t1 = await slow.send(hub, "bp-1", await slow.messages(hub, roomId, first));
    expect(t1.status).toBe(200);
    expect(t1.body["failed_pdus"]).toEqual({});

    // Ten events ahead of slow.test (limit 5): the next transaction is refused as a whole.
    const second = ["second 0", "second 1", "second 2"];
    const t2 = await slow.messages(hub, roomId, second);
    const refused = await slow.send(hub, "bp-2", t2);
    expect(refused.status).toBe(429);
    expect(refused.body["errcode"]).toBe("M_LIMIT_EXCEEDED");
    expect(refused.body["retry_after_ms"]).toBeGreaterThan(0);
    expect(await messageBodies(hub, roomId)).toEqual(first);

    // Sent again as asked, it is taken once slow.test has caught up.
    await slow.sendHonouringPushBack(hub, "bp-2", t2);
    const all = [...first, ...second];
    expect(await messageBodies(hub, roomId)).toEqual(all);
    await eventually(async () => ((await messageBodies(p1, roomId)).length === all.length ? true : undefined), "p1 to store every message");
    expect(await messageBodies(p1, roomId)).toEqual(all);
    await eventually(async () => ((slow.received.get(roomId) ?? []).length >= all.length ? true : undefined), "slow.test to receive every message");
    expect(slow.received.get(roomId)).toEqual(all);
  });

  it("does not count a destination that is down, so one server offline cannot stop a room", async () => {
    const [hub] = servers as [TestServer, TestServer];
    const alice = await TestClient.register(hub, "carol");
    const roomId = (await alice.createRoom({ preset: "public_chat" })).room_id;
    slow.delayMs = 0;
    await slow.join(hub, roomId);
    await gone.join(hub, roomId);
    await gone.stop();

    // Forty events, eight times the limit, while gone.test takes none of them.
    const sent: string[] = [];
    const started = Date.now();
    for (let t = 0; t < 4; t++) {
      const bodies = Array.from({ length: 10 }, (_, i) => `while gone ${t}.${i}`);
      await slow.sendHonouringPushBack(hub, `gone-${t}`, await slow.messages(hub, roomId, bodies), 20_000);
      sent.push(...bodies);
    }
    console.log(`40 events taken in ${Date.now() - started} ms with gone.test down`);
    expect(await messageBodies(hub, roomId)).toEqual(sent);
    const res = await hub.fetch(`/_switchboard/admin/v1/rooms/${encodeURIComponent(roomId)}`, { headers: ADMIN });
    const outbox = ((await res.json()) as { outbox: Array<{ destination: string; count: number }> }).outbox;
    // gone.test's events wait in the outbox for it to come back, well past the limit.
    expect(outbox.find((o) => o.destination === gone.name)?.count).toBeGreaterThanOrEqual(sent.length);
  });

  it("a participant's queue waits out the hub's 429 and sends the same LPDUs again: a burst of messages arrives everywhere once, in order", async () => {
    const [hub, p1] = servers as [TestServer, TestServer];
    const dave = await TestClient.register(hub, "dave");
    const erin = await TestClient.register(p1, "erin");
    const roomId = (await dave.createRoom({ preset: "public_chat" })).room_id;
    await erin.join(roomId, hub.name);
    slow.delayMs = 1_500;
    await slow.join(hub, roomId);

    // Two waves of ten concurrent sends (each waits for the hub's echo): the first puts the room ten
    // events ahead of slow.test, so p1's transactions of the second are pushed back.
    const bodies = Array.from({ length: 20 }, (_, i) => `burst ${i}`);
    const ids = [...(await Promise.all(bodies.slice(0, 10).map((b) => erin.send(roomId, b))))];
    ids.push(...(await Promise.all(bodies.slice(10).map((b) => erin.send(roomId, b)))));
    expect(new Set(ids).size).toBe(bodies.length);

    const onHub = await messageBodies(hub, roomId);
    expect([...onHub].sort()).toEqual([...bodies].sort());
    await eventually(async () => ((await messageBodies(p1, roomId)).length === bodies.length ? true : undefined), "p1 to store every message");
    expect(await messageBodies(p1, roomId)).toEqual(onHub);
    await eventually(async () => ((slow.received.get(roomId) ?? []).length >= bodies.length ? true : undefined), "slow.test to receive every message");
    expect(slow.received.get(roomId)).toEqual(onHub);

    // p1's queue for the hub was pushed back and waited, without counting a failure.
    const res = await p1.fetch(`/_switchboard/admin/v1/destinations/${encodeURIComponent(hub.name)}`, { headers: ADMIN });
    const status = (await res.json()) as { pushedBack: number; failures: number };
    expect(status.pushedBack).toBeGreaterThan(0);
    expect(status.failures).toBe(0);
  });
});
