// A vodozemac OlmMachine (matrix-sdk-crypto) driven by hand against any homeserver's client API, as a
// client would: what /sync returns goes into receiveSyncChanges, every outgoing request goes over
// HTTP and its answer back into markRequestAsSent. No cross-signing is set up; decryption runs with
// TrustRequirement.Untrusted. Works the same on Synapse and on Switchboard.

import {
  DecryptionSettings,
  DeviceId,
  DeviceLists,
  EncryptionAlgorithm,
  EncryptionSettings,
  KeysClaimRequest,
  KeysQueryRequest,
  KeysUploadRequest,
  OlmMachine,
  RoomId,
  RoomMessageRequest,
  ToDeviceRequest,
  TrustRequirement,
  UserId,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import { User, type Homeserver } from "./peer.js";

type OutgoingRequest = Awaited<ReturnType<OlmMachine["outgoingRequests"]>>[number];
export type ProcessedToDevice = Awaited<ReturnType<OlmMachine["receiveSyncChanges"]>>[number];

export interface SyncEvent {
  event_id: string;
  type: string;
  sender: string;
  state_key?: string;
  content: Record<string, unknown>;
  origin_server_ts: number;
}

/** The parts of a /sync answer this driver reads; Synapse leaves out empty sections. */
export interface SyncBody {
  next_batch: string;
  rooms?: { join?: Record<string, { timeline?: { events?: SyncEvent[] } }>; invite?: Record<string, unknown> };
  to_device?: { events?: Array<{ sender: string; type: string; content: Record<string, unknown> }> };
  device_lists?: { changed?: string[]; left?: string[] };
  device_one_time_keys_count?: Record<string, number>;
  device_unused_fallback_key_types?: string[];
}

export interface SyncResult {
  body: SyncBody;
  toDevice: ProcessedToDevice[];
}

export class CryptoDevice {
  /** Paths this device called, in order (query strings dropped). */
  readonly calls: string[] = [];
  lastCounts: Record<string, number> = {};
  private since: string | undefined;

  private constructor(
    readonly user: User,
    readonly machine: OlmMachine,
  ) {}

  static async create(server: Homeserver, username: string, deviceId: string): Promise<CryptoDevice> {
    const user = await User.register(server, username, deviceId);
    return new CryptoDevice(user, await OlmMachine.initialize(new UserId(user.userId), new DeviceId(user.deviceId)));
  }

  /** A machine for a device already logged in (a second device of a user). */
  static async attach(user: User): Promise<CryptoDevice> {
    return new CryptoDevice(user, await OlmMachine.initialize(new UserId(user.userId), new DeviceId(user.deviceId)));
  }

  get userId(): string {
    return this.user.userId;
  }

  get deviceId(): string {
    return this.user.deviceId;
  }

  private async call(method: string, path: string, body: string | undefined): Promise<string> {
    this.calls.push(path.split("?")[0] as string);
    return this.user.raw(method, path, body);
  }

  private async execute(req: OutgoingRequest): Promise<void> {
    let answer: string;
    if (req instanceof KeysUploadRequest) answer = await this.call("POST", "/keys/upload", req.body);
    else if (req instanceof KeysQueryRequest) answer = await this.call("POST", "/keys/query", req.body);
    else if (req instanceof KeysClaimRequest) answer = await this.call("POST", "/keys/claim", req.body);
    else if (req instanceof ToDeviceRequest) answer = await this.call("PUT", `/sendToDevice/${encodeURIComponent(req.event_type)}/${encodeURIComponent(req.txn_id)}`, req.body);
    else if (req instanceof RoomMessageRequest) {
      answer = await this.call("PUT", `/rooms/${encodeURIComponent(req.room_id)}/send/${encodeURIComponent(req.event_type)}/${encodeURIComponent(req.txn_id)}`, req.body);
    } else throw new Error(`unexpected outgoing request of type ${String(req.type)}`);
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

  async send(req: KeysClaimRequest | KeysQueryRequest | ToDeviceRequest): Promise<void> {
    await this.execute(req);
  }

  async sync(timeoutMs = 0): Promise<SyncResult> {
    const q = `?timeout=${timeoutMs}${this.since ? `&since=${encodeURIComponent(this.since)}` : ""}`;
    const body = JSON.parse(await this.call("GET", `/sync${q}`, undefined)) as SyncBody;
    this.since = body.next_batch;
    this.lastCounts = body.device_one_time_keys_count ?? {};
    const processed = await this.machine.receiveSyncChanges(
      JSON.stringify(body.to_device?.events ?? []),
      new DeviceLists((body.device_lists?.changed ?? []).map((u) => new UserId(u)), (body.device_lists?.left ?? []).map((u) => new UserId(u))),
      new Map(Object.entries(this.lastCounts)),
      new Set(body.device_unused_fallback_key_types ?? []),
    );
    await this.flush();
    return { body, toDevice: processed };
  }

  /** Long-polls /sync until `pick` finds something, or fails after `ms`. */
  async syncUntil<T>(what: string, pick: (r: SyncResult) => T | undefined, ms = 30_000): Promise<T> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const found = pick(await this.sync(1_000));
      if (found !== undefined) return found;
    }
    throw new Error(`${this.userId} timed out waiting for ${what}`);
  }

  /** Sends a to-device message whose content is exactly the string given, to one device. */
  async sendToDevice(type: string, userId: string, deviceId: string, content: string): Promise<void> {
    const body = `{"messages":${JSON.stringify({ [userId]: { [deviceId]: "__CONTENT__" } }).replace('"__CONTENT__"', content)}}`;
    await this.call("PUT", `/sendToDevice/${encodeURIComponent(type)}/${this.user.nextTxn()}`, body);
  }

  /** Sends a room event whose content is exactly the string given. */
  async sendRoomEvent(roomId: string, type: string, content: string): Promise<string> {
    const answer = await this.call("PUT", `/rooms/${encodeURIComponent(roomId)}/send/${encodeURIComponent(type)}/${this.user.nextTxn()}`, content);
    return (JSON.parse(answer) as { event_id: string }).event_id;
  }

  /** Shares the room's Megolm session with every known device of `members`. */
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
