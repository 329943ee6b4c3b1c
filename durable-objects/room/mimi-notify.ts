// Commit listener: MIMI notify fan-out. Every MLS message the room accepts (an m.mls.commit's
// PublicMessage, an m.room.encrypted's PrivateMessage), whichever protocol it came in by, is queued
// for each MIMI follower in the commit's own transaction, except the provider that submitted it (-06:
// "the hub is not expected to forward the client's own message to ... its provider"). Each follower
// gets its queue in order, one notify in flight; a failure waits with exponential backoff (the
// room's alarm retries), and a follower answers a repeat it already processed with 201 as well.

import { MIMI_PROVIDER_KEY } from "../../shared/mimi-vouched.js";
import type { FollowerSet, NotifyRow, RoomMimiStorage } from "../room-mimi-storage.js";
import type { CommitListener, Committed } from "./core.js";
import { mlsMessageOf } from "./mimi-hub.js";

export interface NotifyPorts {
  /** POSTs one FanoutMessage to `provider`'s notify endpoint for the room; true when it answered 201. */
  deliver(provider: string, roomId: string, row: NotifyRow): Promise<boolean>;
  alarmWithin(ms: number): Promise<void>;
  waitUntil(p: Promise<unknown>): void;
  now(): number;
}

export const NOTIFY_RETRY_BASE_MS = 500;
export const NOTIFY_RETRY_MAX_MS = 60_000;

export function notifyBackoff(attempts: number, baseMs = NOTIFY_RETRY_BASE_MS, maxMs = NOTIFY_RETRY_MAX_MS): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempts, 20));
}

export class MimiNotifier implements CommitListener {
  private roomId: string | undefined;
  private kickWanted = false;
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly store: RoomMimiStorage,
    private readonly followers: Pick<FollowerSet, "list">,
    private readonly ports: NotifyPorts,
    private readonly retry: { baseMs: number; maxMs: number } = { baseMs: NOTIFY_RETRY_BASE_MS, maxMs: NOTIFY_RETRY_MAX_MS },
  ) {}

  record(c: Committed): void {
    const followers = this.followers.list();
    if (followers.length === 0) return; // an LM-only room pays nothing here
    const message = mlsMessageOf(c.pdu);
    if (!message) return;
    const origin = c.pdu.content[MIMI_PROVIDER_KEY];
    for (const provider of followers) {
      if (provider !== origin) this.store.enqueueNotify(provider, "message", c.pdu.origin_server_ts, message);
    }
  }

  committed(c: Committed): void {
    this.roomId = c.roomId;
    if (this.followers.list().length > 0 && mlsMessageOf(c.pdu)) this.kickWanted = true;
  }

  settle(): void {
    if (!this.kickWanted) return;
    this.kickWanted = false;
    this.kick();
  }

  /** Starts delivery to every follower with a due notify and none in flight (also the alarm's retry). */
  kick(roomId = this.roomId): void {
    if (roomId === undefined) return;
    this.roomId = roomId;
    const now = this.ports.now();
    for (const head of this.store.heads()) {
      if (this.inFlight.has(head.provider)) continue;
      if (head.nextTs > now) {
        this.ports.waitUntil(this.ports.alarmWithin(head.nextTs - now));
        continue;
      }
      this.inFlight.add(head.provider);
      this.ports.waitUntil(this.drain(roomId, head.provider).finally(() => this.inFlight.delete(head.provider)));
    }
  }

  /** Delivers `provider`'s queue in order until it is empty or a delivery fails. */
  private async drain(roomId: string, provider: string): Promise<void> {
    for (;;) {
      const row = this.store.head(provider);
      if (!row) return;
      let ok = false;
      try {
        ok = await this.ports.deliver(provider, roomId, row);
      } catch (e) {
        console.warn(`MIMI notify to ${provider} failed`, e instanceof Error ? e.message : String(e));
      }
      if (!ok) {
        const wait = notifyBackoff(row.attempts, this.retry.baseMs, this.retry.maxMs);
        this.store.notifyFailed(row.seq, this.ports.now() + wait);
        await this.ports.alarmWithin(wait);
        return;
      }
      this.store.notifyDelivered(row.seq);
    }
  }
}
