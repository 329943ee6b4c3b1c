// The double-ratchet on-ramp: two matrix-sdk-crypto (vodozemac) OlmMachines, alice on one.test and
// bob on two.test, exchange keys through Switchboard and talk Olm and Megolm in a room without MLS.
// The test drives each machine by hand, as a client would: every /sync's to_device, device_lists,
// device_one_time_keys_count and device_unused_fallback_key_types go into receiveSyncChanges, and
// every request from outgoingRequests() goes to Switchboard's HTTP endpoints, its answer back into
// markRequestAsSent. No cross-signing is set up (bootstrapCrossSigning is never called), so the
// machines never ask for /keys/signatures/upload or /keys/device_signing/upload; decryption runs
// with TrustRequirement.Untrusted. The servers carry the ciphertext without ever reading it: the
// stored room events on both servers are byte-identical to what the sending machine produced.

import {
  DecryptedToDeviceEvent,
  DecryptionSettings,
  DeviceId,
  DeviceLists,
  EncryptionAlgorithm,
  EncryptionSettings,
  initAsync,
  KeysClaimRequest,
  KeysQueryRequest,
  KeysUploadRequest,
  OlmMachine,
  RoomId,
  RoomMessageRequest,
  SignatureUploadRequest,
  ToDeviceRequest,
  TrustRequirement,
  UserId,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson, type JsonObject } from "../../shared/canonical-json.js";
import { storedEvents, TestClient } from "../federation/client.js";
import { startServers, stopServers, type TestServer } from "../federation/harness.js";

type OutgoingRequest = Awaited<ReturnType<OlmMachine["outgoingRequests"]>>[number];
type ProcessedToDevice = Awaited<ReturnType<OlmMachine["receiveSyncChanges"]>>[number];

const MEGOLM = "m.megolm.v1.aes-sha2";
const OLM = "m.olm.v1.curve25519-aes-sha2";

interface SyncEvent {
  event_id: string;
  type: string;
  sender: string;
  state_key?: string;
  content: Record<string, unknown>;
  origin_server_ts: number;
}

interface SyncBody {
  next_batch: string;
  rooms: { join: Record<string, { timeline: { events: SyncEvent[] } }>; invite: Record<string, unknown> };
  to_device: { events: Array<{ sender: string; type: string; content: Record<string, unknown> }> };
  device_lists: { changed: string[]; left: string[] };
  device_one_time_keys_count: Record<string, number>;
  device_unused_fallback_key_types?: string[];
}

interface Exchange {
  method: string;
  path: string;
  status: number;
}

/** One user's device: an in-memory OlmMachine, and a bare HTTP client that carries out what it asks. */
class CryptoDevice {
  /** Every HTTP request this device made on the machine's behalf. */
  readonly exchanges: Exchange[] = [];
  /** Every to-device event the machine handed back from receiveSyncChanges. */
  readonly toDevice: ProcessedToDevice[] = [];
  /** The last one-time key counts and fallback key types /sync reported. */
  lastCounts: Record<string, number> = {};
  lastFallbackTypes: string[] = [];
  private since: string | undefined;
  private txn = 0;

  private constructor(
    readonly http: TestClient,
    readonly deviceId: string,
    readonly machine: OlmMachine,
  ) {}

  static async create(server: TestServer, username: string, deviceId: string): Promise<CryptoDevice> {
    const res = await server.fetch("/_matrix/client/v3/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, password: "pw", device_id: deviceId, auth: { type: "m.login.dummy" } }),
    });
    const body = (await res.json()) as { user_id: string; access_token: string; device_id: string };
    if (res.status !== 200) throw new Error(`register ${username}: ${res.status} ${JSON.stringify(body)}`);
    expect(body.device_id).toBe(deviceId);
    const machine = await OlmMachine.initialize(new UserId(body.user_id), new DeviceId(deviceId));
    return new CryptoDevice(new TestClient(server, body.user_id, body.access_token), deviceId, machine);
  }

  get userId(): string {
    return this.http.userId;
  }

  /** Sends one HTTP request with the device's token; any non-200 answer fails the test. */
  private async call(method: string, path: string, body: string | undefined): Promise<string> {
    const res = await this.http.server.fetch(`/_matrix/client/v3${path}`, {
      method,
      headers: { authorization: `Bearer ${this.http.accessToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body,
    });
    const text = await res.text();
    this.exchanges.push({ method, path: path.split("?")[0] as string, status: res.status });
    if (res.status !== 200) throw new Error(`${method} ${path} on ${this.http.server.name}: ${res.status} ${text}`);
    return text;
  }

  /** Carries out one of the machine's outgoing requests and reports the answer back to it. */
  private async execute(req: OutgoingRequest): Promise<void> {
    let answer: string;
    if (req instanceof KeysUploadRequest) answer = await this.call("POST", "/keys/upload", req.body);
    else if (req instanceof KeysQueryRequest) answer = await this.call("POST", "/keys/query", req.body);
    else if (req instanceof KeysClaimRequest) answer = await this.call("POST", "/keys/claim", req.body);
    else if (req instanceof ToDeviceRequest) answer = await this.call("PUT", `/sendToDevice/${encodeURIComponent(req.event_type)}/${encodeURIComponent(req.txn_id)}`, req.body);
    else if (req instanceof RoomMessageRequest) {
      answer = await this.call("PUT", `/rooms/${encodeURIComponent(req.room_id)}/send/${encodeURIComponent(req.event_type)}/${encodeURIComponent(req.txn_id)}`, req.body);
    } else if (req instanceof SignatureUploadRequest) throw new Error("unexpected signature upload: this test sets up no cross-signing");
    else throw new Error(`unexpected outgoing request of type ${String(req.type)}`);
    if (req.id === undefined) throw new Error("outgoing request without an ID");
    await this.machine.markRequestAsSent(req.id, req.type, answer);
  }

  /** Sends everything the machine has queued, until it asks for nothing more. */
  async flush(): Promise<void> {
    for (let round = 0; round < 10; round++) {
      const reqs = await this.machine.outgoingRequests();
      if (reqs.length === 0) return;
      for (const r of reqs) await this.execute(r);
    }
    throw new Error("the machine kept asking for requests");
  }

  /** Sends one extra request the machine built outside outgoingRequests (claims, room key shares). */
  async send(req: KeysClaimRequest | KeysQueryRequest | ToDeviceRequest): Promise<void> {
    await this.execute(req);
  }

  /** One /sync, fed to the machine; returns the response and what the machine made of its to_device. */
  async sync(timeoutMs = 0): Promise<{ body: SyncBody; toDevice: ProcessedToDevice[] }> {
    const q = `?timeout=${timeoutMs}${this.since ? `&since=${encodeURIComponent(this.since)}` : ""}`;
    const body = JSON.parse(await this.call("GET", `/sync${q}`, undefined)) as SyncBody;
    this.since = body.next_batch;
    this.lastCounts = body.device_one_time_keys_count;
    this.lastFallbackTypes = body.device_unused_fallback_key_types ?? [];
    const processed = await this.machine.receiveSyncChanges(
      JSON.stringify(body.to_device.events),
      new DeviceLists(
        body.device_lists.changed.map((u) => new UserId(u)),
        body.device_lists.left.map((u) => new UserId(u)),
      ),
      new Map(Object.entries(body.device_one_time_keys_count)),
      new Set(this.lastFallbackTypes),
    );
    this.toDevice.push(...processed);
    await this.flush();
    return { body, toDevice: processed };
  }

  /** Syncs (long-polling) until `pick` finds something in a response, or fails after `ms`. */
  async syncUntil<T>(what: string, pick: (r: { body: SyncBody; toDevice: ProcessedToDevice[] }) => T | undefined, ms = 20_000): Promise<T> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const found = pick(await this.sync(1_000));
      if (found !== undefined) return found;
    }
    throw new Error(`${this.userId} timed out waiting for ${what}`);
  }

  /** Sends a room event with the given content string exactly as the machine produced it. */
  async sendRoomEvent(roomId: string, type: string, content: string): Promise<string> {
    const answer = await this.call("PUT", `/rooms/${encodeURIComponent(roomId)}/send/${encodeURIComponent(type)}/olm-test-${this.txn++}`, content);
    return (JSON.parse(answer) as { event_id: string }).event_id;
  }

  /** Sends a to-device message whose content is the string given, to one device. */
  async sendToDevice(type: string, userId: string, deviceId: string, content: string): Promise<void> {
    const body = `{"messages":${JSON.stringify({ [userId]: { [deviceId]: "__CONTENT__" } }).replace('"__CONTENT__"', content)}}`;
    await this.call("PUT", `/sendToDevice/${encodeURIComponent(type)}/olm-test-${this.txn++}`, body);
  }

  /** Shares the room's Megolm session with every device of `members` that the machine knows. */
  async shareRoomKey(roomId: string, members: string[]): Promise<ToDeviceRequest[]> {
    const settings = new EncryptionSettings();
    settings.algorithm = EncryptionAlgorithm.MegolmV1AesSha2;
    const claim = await this.machine.getMissingSessions(members.map((u) => new UserId(u)));
    if (claim) await this.send(claim);
    const shares = await this.machine.shareRoomKey(new RoomId(roomId), members.map((u) => new UserId(u)), settings);
    for (const s of shares) await this.send(s);
    return shares;
  }

  async decrypt(roomId: string, event: SyncEvent): Promise<{ type: string; content: Record<string, unknown>; senderDevice: string | undefined }> {
    const out = await this.machine.decryptRoomEvent(JSON.stringify({ ...event, room_id: roomId }), new RoomId(roomId), new DecryptionSettings(TrustRequirement.Untrusted));
    const decrypted = JSON.parse(out.event) as { type: string; content: Record<string, unknown> };
    return { ...decrypted, senderDevice: out.senderDevice?.toString() };
  }

  close(): void {
    this.machine.close();
  }
}

const timelineEvent = (roomId: string, eventId: string) => (r: { body: SyncBody }) =>
  r.body.rooms.join[roomId]?.timeline.events.find((e) => e.event_id === eventId);

describe("Olm and Megolm (matrix-sdk-crypto OlmMachines) through two federating servers, in a room without MLS", () => {
  let servers: TestServer[] = [];
  let one: TestServer;
  let two: TestServer;
  let alice: CryptoDevice;
  let bob: CryptoDevice;
  let roomId: string;

  beforeAll(async () => {
    await initAsync();
    servers = await startServers(["one.test", "two.test"]);
    [one, two] = servers as [TestServer, TestServer];
    alice = await CryptoDevice.create(one, "alice", "ALICEPHONE");
    bob = await CryptoDevice.create(two, "bob", "BOBLAPTOP");
  });

  afterAll(async () => {
    alice?.close();
    bob?.close();
    await stopServers(servers);
  });

  it("lets each machine upload its device keys, one-time keys and fallback key, and reports the counts back in /sync", async () => {
    for (const d of [alice, bob]) {
      // First the device keys and one-time keys.
      await d.flush();
      const uploads = () => d.exchanges.filter((x) => x.path === "/keys/upload").length;
      expect(uploads()).toBe(1);
      // The first sync shows the one-time keys and no unused fallback key, so the machine uploads one.
      await d.sync();
      expect(d.lastCounts["signed_curve25519"]).toBeGreaterThan(0);
      expect(d.lastFallbackTypes).toEqual([]);
      expect(uploads()).toBe(2);
      // The next sync reports the fallback key too; a satisfied machine asks for nothing more.
      await d.sync();
      expect(d.lastFallbackTypes).toEqual(["signed_curve25519"]);
      expect(await d.machine.outgoingRequests()).toEqual([]);
      expect(uploads()).toBe(2);
    }
  });

  it("creates a Megolm-encrypted room without MLS on one.test, and bob on two.test joins it", async () => {
    roomId = (
      await alice.http.createRoom({
        initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: MEGOLM } }],
      })
    ).room_id;
    await alice.http.invite(roomId, bob.userId);
    await bob.syncUntil("the invite", (r) => (r.body.rooms.invite[roomId] ? true : undefined));
    await bob.http.join(roomId, "one.test");
    // alice's sync names bob as a user whose devices she must now track: her machine queries them.
    await alice.syncUntil("bob in device_lists.changed", (r) => (r.body.device_lists.changed.includes(bob.userId) ? true : undefined));

    const stored = await storedEvents(one, roomId);
    const create = stored.find((e) => e.pdu.type === "m.room.create");
    expect(create?.pdu.content["encryption"]).toBeUndefined();
    expect(stored.find((e) => e.pdu.type === "m.room.encryption")?.pdu.content).toEqual({ algorithm: MEGOLM });
  });

  it("shows each machine the other's device keys as its owner published them, queried over federation", async () => {
    for (const [me, them] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      await me.machine.updateTrackedUsers([new UserId(them.userId)]);
      await me.flush();
      const device = await me.machine.getDevice(new UserId(them.userId), new DeviceId(them.deviceId));
      expect(device, `${me.userId} knows ${them.deviceId}`).toBeDefined();
      expect(device?.curve25519Key?.toBase64()).toBe(them.machine.identityKeys.curve25519.toBase64());
      expect(device?.ed25519Key?.toBase64()).toBe(them.machine.identityKeys.ed25519.toBase64());
      device?.free();
    }
    // alice's server answered her query about bob from two.test, and the other way round.
    expect(alice.exchanges.some((x) => x.path === "/keys/query")).toBe(true);
    expect(bob.exchanges.some((x) => x.path === "/keys/query")).toBe(true);
  });

  it("claims one of bob's one-time keys over federation and sends him an Olm-encrypted to-device message he decrypts", async () => {
    const before = bob.lastCounts["signed_curve25519"] as number;
    const claim = await alice.machine.getMissingSessions([new UserId(bob.userId)]);
    expect(claim).not.toBeNull();
    const claimBody = JSON.parse((claim as KeysClaimRequest).body) as { one_time_keys: Record<string, Record<string, string>> };
    expect(claimBody.one_time_keys[bob.userId]?.[bob.deviceId]).toBe("signed_curve25519");
    await alice.send(claim as KeysClaimRequest);
    // The Olm session exists now; nothing is missing any more.
    expect(await alice.machine.getMissingSessions([new UserId(bob.userId)])).toBeNull();
    // two.test handed out exactly one of bob's one-time keys (his machine then tops the count up).
    const afterClaim = await bob.sync();
    expect(afterClaim.body.device_one_time_keys_count["signed_curve25519"]).toBe(before - 1);

    const device = await alice.machine.getDevice(new UserId(bob.userId), new DeviceId(bob.deviceId));
    const secret = { note: "a private note for bob's laptop", n: 7 };
    const encrypted = await (device as NonNullable<typeof device>).encryptToDeviceEvent("org.example.private_note", secret);
    const encryptedContent = JSON.parse(encrypted) as { algorithm: string; sender_key: string; ciphertext: Record<string, unknown> };
    expect(encryptedContent.algorithm).toBe(OLM);
    expect(JSON.stringify(encryptedContent)).not.toContain("private note");
    await alice.sendToDevice("m.room.encrypted", bob.userId, bob.deviceId, encrypted);

    const received = await bob.syncUntil("the encrypted to-device message", (r) => {
      const raw = r.body.to_device.events.find((e) => e.type === "m.room.encrypted" && e.sender === alice.userId);
      const decrypted = r.toDevice.find(
        (e): e is DecryptedToDeviceEvent => e instanceof DecryptedToDeviceEvent && (JSON.parse(e.rawEvent) as { type?: string }).type === "org.example.private_note",
      );
      return raw && decrypted ? { raw, decrypted } : undefined;
    });
    // Delivered across servers exactly as alice's machine produced it ...
    expect(canonicalJson(received.raw.content as JsonObject)).toBe(canonicalJson(encryptedContent as unknown as JsonObject));
    // ... and bob's machine decrypts it to what alice encrypted, from alice's device.
    const plain = JSON.parse(received.decrypted.rawEvent) as { type: string; sender: string; content: Record<string, unknown> };
    expect(plain.type).toBe("org.example.private_note");
    expect(plain.sender).toBe(alice.userId);
    expect(plain.content).toEqual(secret);
    expect(received.decrypted.encryptionInfo.senderCurve25519Key).toBe(alice.machine.identityKeys.curve25519.toBase64());
  });

  it("shares a Megolm room key over Olm and sends an m.room.encrypted message that bob decrypts from his timeline", async () => {
    const shares = await alice.shareRoomKey(roomId, [alice.userId, bob.userId]);
    expect(shares.length).toBeGreaterThan(0);
    const sharedTo = shares.flatMap((s) => Object.keys((JSON.parse(s.body) as { messages: Record<string, unknown> }).messages));
    expect(sharedTo).toContain(bob.userId);

    const plaintext = { msgtype: "m.text", body: "Hello bob, this is Megolm across two servers" };
    const ciphertext = await alice.machine.encryptRoomEvent(new RoomId(roomId), "m.room.message", JSON.stringify(plaintext));
    const content = JSON.parse(ciphertext) as JsonObject;
    expect(content["algorithm"]).toBe(MEGOLM);
    expect(ciphertext).not.toContain("Hello bob");
    const eventId = await alice.sendRoomEvent(roomId, "m.room.encrypted", ciphertext);

    const event = await bob.syncUntil("alice's encrypted message", timelineEvent(roomId, eventId));
    expect(event.type).toBe("m.room.encrypted");
    const decrypted = await bob.decrypt(roomId, event);
    expect(decrypted.type).toBe("m.room.message");
    expect(decrypted.content).toEqual(plaintext);
    expect(decrypted.senderDevice).toBe(alice.deviceId);

    // Neither server decrypted or rewrote anything: both stored the content byte for byte.
    for (const server of [one, two]) {
      const stored = (await storedEvents(server, roomId)).find((e) => e.event_id === eventId);
      expect(stored, `${server.name} stored the event`).toBeDefined();
      expect(stored?.pdu.type).toBe("m.room.encrypted");
      expect(canonicalJson(stored?.pdu.content as JsonObject)).toBe(canonicalJson(content));
      expect(stored?.pdu.content["ciphertext"]).toBe(content["ciphertext"]);
    }
  });

  it("works the other way round: bob shares his own Megolm session over the Olm session alice opened, and alice decrypts his reply", async () => {
    // alice's pre-key message gave bob an Olm session with her device: he needs to claim no key.
    expect(await bob.machine.getMissingSessions([new UserId(alice.userId)])).toBeNull();
    await bob.shareRoomKey(roomId, [alice.userId, bob.userId]);
    const plaintext = { msgtype: "m.text", body: "Hi alice, got it" };
    const ciphertext = await bob.machine.encryptRoomEvent(new RoomId(roomId), "m.room.message", JSON.stringify(plaintext));
    const eventId = await bob.sendRoomEvent(roomId, "m.room.encrypted", ciphertext);

    const event = await alice.syncUntil("bob's encrypted reply", timelineEvent(roomId, eventId));
    const decrypted = await alice.decrypt(roomId, event);
    expect(decrypted.content).toEqual(plaintext);
    expect(decrypted.senderDevice).toBe(bob.deviceId);
    for (const server of [one, two]) {
      const stored = (await storedEvents(server, roomId)).find((e) => e.event_id === eventId);
      expect(canonicalJson(stored?.pdu.content as JsonObject)).toBe(canonicalJson(JSON.parse(ciphertext) as JsonObject));
    }
  });
});
