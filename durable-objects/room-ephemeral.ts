// A room's ephemeral data: who is typing (memory, with expiry) and read receipts (durable, in
// room-receipts-storage.ts). Changes reach local members' streams (their syncs wake and ask the room
// for its typing and receipts) and, for local users' own typing and public receipts, every other
// server with a member in the room as m.typing / m.receipt EDUs through its Destination queue.

import { canonicalJson, type JsonObject } from "../shared/canonical-json.js";
import { DEFAULT_TYPING_MS, MAX_TYPING_MS, PUBLIC_RECEIPT_TYPES, receiptEdu, typingEdu, type Receipt } from "../shared/receipts-typing.js";
import type { ReceiptStorage } from "./room-receipts-storage.js";

export interface EphemeralPorts {
  serverName: string;
  /** Local users joined to the room. */
  localMembers(): string[];
  /** Other servers with a joined user. */
  remoteServers(): string[];
  /** Tells these local users' streams that the room's typing or receipts changed. */
  tellStreams(userIds: readonly string[], roomId: string): Promise<void>;
  /** Queues an EDU (JSON text) for these servers; `id` is unique per EDU. */
  sendEdu(servers: readonly string[], id: string, json: string): Promise<void>;
}

/** Receipts a sync shows per room: the newest, which covers every active reader of all but huge rooms. */
const RECEIPTS_SHOWN = 200;

export class RoomEphemeral {
  /** User -> when their typing lapses (ms since epoch). */
  private readonly typing = new Map<string, number>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private roomId: string | undefined;

  constructor(
    private readonly receipts: ReceiptStorage,
    private readonly ports: EphemeralPorts,
  ) {}

  /** A user starts or stops typing; `timeoutMs` is capped. Local users' typing goes to the other servers. */
  async setTyping(roomId: string, userId: string, typing: boolean, timeoutMs: number | undefined, now: number): Promise<void> {
    this.roomId = roomId;
    const was = this.typing.has(userId) && (this.typing.get(userId) as number) > now;
    if (typing) this.typing.set(userId, now + Math.min(timeoutMs ?? DEFAULT_TYPING_MS, MAX_TYPING_MS));
    else this.typing.delete(userId);
    this.schedule(now);
    const local = userId.endsWith(`:${this.ports.serverName}`);
    const work: Array<Promise<void>> = [];
    if (was !== typing) work.push(this.ports.tellStreams(this.ports.localMembers(), roomId));
    // A refresh (still typing) is sent on too, so the other servers' timers restart.
    if (local && (typing || was)) work.push(this.sendToOthers(`typing/${roomId}/${userId}/${now}/${crypto.randomUUID()}`, typingEdu(roomId, userId, typing)));
    await Promise.all(work);
  }

  typingUsers(now: number): string[] {
    return [...this.typing].filter(([, until]) => until > now).map(([u]) => u).sort();
  }

  /** Keeps a receipt; a new one tells the room's local members (a private one only its user) and, if public and local, the other servers. */
  async putReceipt(roomId: string, r: Receipt): Promise<void> {
    this.roomId = roomId;
    if (!this.receipts.put(r)) return;
    const isPublic = PUBLIC_RECEIPT_TYPES.has(r.receiptType);
    const local = r.userId.endsWith(`:${this.ports.serverName}`);
    await Promise.all([
      this.ports.tellStreams(isPublic ? this.ports.localMembers() : [r.userId], roomId),
      isPublic && local ? this.sendToOthers(`receipt/${roomId}/${r.userId}/${r.ts}/${crypto.randomUUID()}`, receiptEdu(roomId, r)) : Promise.resolve(),
    ]);
  }

  /** The receipts `userId` may see: everyone's public ones and their own private ones. */
  receiptsFor(userId: string): Receipt[] {
    return this.receipts.latest(RECEIPTS_SHOWN).filter((r) => PUBLIC_RECEIPT_TYPES.has(r.receiptType) || r.userId === userId);
  }

  private async sendToOthers(id: string, edu: Record<string, unknown>): Promise<void> {
    const servers = this.ports.remoteServers();
    if (servers.length > 0) await this.ports.sendEdu(servers, id, canonicalJson(edu as JsonObject));
  }

  /** One timer, for the earliest lapse: lapsed typing is dropped and the local members told. */
  private schedule(now: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const next = Math.min(...this.typing.values());
    if (!Number.isFinite(next)) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const at = Date.now();
      let lapsed = false;
      for (const [u, until] of this.typing) if (until <= at) lapsed = this.typing.delete(u) || lapsed;
      this.schedule(at);
      if (lapsed && this.roomId !== undefined) void this.ports.tellStreams(this.ports.localMembers(), this.roomId).catch((e) => console.error("typing expiry notice failed", e));
    }, Math.max(0, next - now) + 5);
  }
}
