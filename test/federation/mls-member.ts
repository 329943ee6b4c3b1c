// An MLS client device for federation tests: one logged-in device of a user (its own access token), its
// ts-mls state (MlsDevice), the credential object and KeyPackages it publishes, its to-device inbox
// through /sync, and the room events it sends. Commits are adopted only once the hub accepts them, and
// a device catches up by applying the accepted commits it finds in its server's copy of the timeline.

import { MLS_DEFAULT_ALGORITHM } from "../../shared/mls-algorithm.js";
import { mlsCredentialKey } from "../../shared/device-keys.js";
import { generateSeed, signingKeyFromSeed } from "../../shared/signing-key.js";
import { MLS_ALGORITHM, MLS_KEY_PACKAGE_ALGORITHM, signAs } from "../support/e2ee-keys.js";
import { decodeMessage, MlsDevice, type PendingCommit } from "../support/mls-client.js";
import { eventually, MatrixApiError, TestClient } from "./client.js";
import type { TestServer } from "./harness.js";

export const ROOM_ALGORITHM = MLS_DEFAULT_ALGORITHM;
export const WELCOME_ALGORITHM = "m.mls.v1.welcome.dhkemx25519-aes128gcm-sha256-ed25519";
export const KEY_PACKAGE_ALGORITHM = MLS_KEY_PACKAGE_ALGORITHM;

export interface ToDeviceEvent {
  sender: string;
  type: string;
  content: Record<string, unknown>;
}

/** The epoch a commit (base64 PublicMessage) is for. */
export function commitEpoch(message: string): number {
  const m = decodeMessage(message);
  if (m.wireformat !== "mls_public_message") throw new Error("not a PublicMessage");
  return Number(m.publicMessage.content.epoch);
}

export class MlsMember {
  readonly inbox: ToDeviceEvent[] = [];
  private since: string | undefined;
  private txn = 0;
  private keyPackageCounter = 0;

  private constructor(
    readonly client: TestClient,
    readonly deviceId: string,
    readonly mls: MlsDevice,
    private readonly seed: Uint8Array,
  ) {}

  get userId(): string {
    return this.client.userId;
  }

  /** A new account whose first device is `deviceId`. */
  static async register(server: TestServer, username: string, deviceId: string): Promise<MlsMember> {
    return MlsMember.session(server, "/register", { username, password: "pw", device_id: deviceId, auth: { type: "m.login.dummy" } }, deviceId);
  }

  /** Another device of an existing account. */
  static async login(server: TestServer, username: string, deviceId: string): Promise<MlsMember> {
    return MlsMember.session(server, "/login", { type: "m.login.password", identifier: { type: "m.id.user", user: username }, password: "pw", device_id: deviceId }, deviceId);
  }

  private static async session(server: TestServer, path: string, body: Record<string, unknown>, deviceId: string): Promise<MlsMember> {
    const res = await server.fetch(`/_matrix/client/v3${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const json = (await res.json()) as { user_id: string; access_token: string; device_id: string; errcode?: string; error?: string };
    if (res.status !== 200) throw new MatrixApiError(res.status, json, `${path} ${deviceId}`);
    // The MLS signature key also signs the device's published credential object, as the draft has it.
    const seed = generateSeed();
    const publicKey = (await signingKeyFromSeed(seed, deviceId)).publicKey;
    const mls = await MlsDevice.create(json.user_id, json.device_id, { signKey: seed, publicKey });
    return new MlsMember(new TestClient(server, json.user_id, json.access_token), json.device_id, mls, seed);
  }

  /** Signs `bytes` (an MLS SignContent) with this device's signature key, for MIMI request signatures. */
  async signBytes(bytes: Uint8Array): Promise<Uint8Array> {
    return (await signingKeyFromSeed(this.seed, this.deviceId)).sign(bytes);
  }

  /** The draft's device credential object: the MLS credential, signed by the device's MLS key. */
  async credentialObject(): Promise<Record<string, unknown>> {
    const key = await signingKeyFromSeed(this.seed, this.deviceId);
    const cred = mlsCredentialKey({ userId: this.userId, deviceId: this.deviceId, signatureKey: key.publicKey });
    const signer = { keyId: cred.keyId, sign: (b: Uint8Array) => key.sign(b) };
    return signAs({ user_id: this.userId, device_id: this.deviceId, algorithms: [MLS_ALGORITHM], keys: { [cred.keyId]: cred.value } }, this.userId, [signer]);
  }

  /** Publishes the credential object (first call) and `n` fresh KeyPackages. */
  async publish(n: number): Promise<void> {
    const oneTime: Record<string, string> = {};
    for (let i = 0; i < n; i++) oneTime[`${KEY_PACKAGE_ALGORITHM}:kp${this.keyPackageCounter++}`] = await this.mls.keyPackage();
    await this.client.request("POST", "/keys/upload", { device_keys: await this.credentialObject(), one_time_keys: oneTime });
  }

  /** One /sync; to-device messages go to the inbox (the next sync acknowledges them). */
  async sync(): Promise<void> {
    const body = await this.client.request<{ next_batch: string; to_device?: { events?: ToDeviceEvent[] } }>(
      "GET",
      `/sync?timeout=0${this.since ? `&since=${this.since}` : ""}`,
    );
    this.since = body.next_batch;
    this.inbox.push(...(body.to_device?.events ?? []));
  }

  /** Waits for a to-device message matching `match`, syncing as needed. */
  async receive(match: (e: ToDeviceEvent) => boolean, what: string, timeoutMs = 15_000): Promise<ToDeviceEvent> {
    return eventually(async () => {
      const found = this.inbox.find(match);
      if (found) return found;
      await this.sync();
      return this.inbox.find(match);
    }, `${this.userId}/${this.deviceId}: ${what}`, timeoutMs);
  }

  async send(roomId: string, type: string, content: Record<string, unknown>): Promise<string> {
    const txnId = `${this.deviceId}.${Date.now()}.${this.txn++}`;
    const r = await this.client.request<{ event_id: string }>("PUT", `/rooms/${encodeURIComponent(roomId)}/send/${type}/${txnId}`, content);
    return r.event_id;
  }

  /**
   * Sends a prepared commit; adopts it only when the hub accepted it (a refusal is thrown). With
   * `groupInfo`, the commit carries the new epoch's GroupInfo, which the hub keeps for MIMI groupInfo.
   */
  /** Sends a prepared commit with the new epoch's GroupInfo (`groupInfo: false`: without it). */
  async sendCommit(roomId: string, pending: PendingCommit, opts: { groupInfo?: boolean } = {}): Promise<string> {
    const content: Record<string, unknown> = { message: pending.message };
    if (opts.groupInfo !== false) content["group_info"] = await this.mls.groupInfoAfter(pending);
    const eventId = await this.send(roomId, "m.mls.commit", content);
    this.mls.confirm(pending);
    return eventId;
  }

  /** An m.room.encrypted content for `text` at this device's current epoch, whose commit is `commitEventId`. */
  async encrypted(text: string, commitEventId: string): Promise<Record<string, unknown>> {
    return { algorithm: ROOM_ALGORITHM, ciphertext: await this.mls.encrypt(text), commit_event_id: commitEventId };
  }

  /** Sends Welcomes by /sendToDevice: {user: {device: content}}. */
  async sendToDevice(type: string, messages: Record<string, Record<string, Record<string, unknown>>>): Promise<void> {
    await this.client.request("PUT", `/sendToDevice/${encodeURIComponent(type)}/${this.deviceId}.${Date.now()}.${this.txn++}`, { messages });
  }

  /**
   * Applies, in timeline order, the accepted commits from this device's current epoch on, as read from
   * its server's copy of the room (its own, already adopted, are for earlier epochs). Returns how many.
   */
  async catchUp(roomId: string): Promise<number> {
    let applied = 0;
    for (const e of await this.client.timeline(roomId)) {
      if (e.type !== "m.mls.commit") continue;
      const message = e.content["message"] as string;
      if (commitEpoch(message) !== this.mls.epoch) continue;
      await this.mls.processCommit(message);
      applied++;
    }
    return applied;
  }

  /** Waits until this device's server has `eventId` in its copy of the room, then catches up. */
  async catchUpTo(roomId: string, eventId: string): Promise<void> {
    await eventually(async () => ((await this.client.timeline(roomId)).some((e) => e.event_id === eventId) ? true : undefined), `${eventId} on ${this.client.server.name}`);
    await this.catchUp(roomId);
  }

  toString(): string {
    return `${this.userId}/${this.deviceId}`;
  }
}
