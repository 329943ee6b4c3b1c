// Commit listener: fan-out. The outbox (room-fanout.ts) is the durable record of what each server
// is owed; destination queues pull from it (fanOutBatch) and report progress (fanOutDone). This
// object tells queues that events wait for them, and tells them again when they go quiet.

import type { FanOutBackpressure } from "../room-backpressure.js";
import type { FanOutLog } from "../room-fanout.js";
import type { OutboxRow } from "../room-storage.js";
import type { CommitListener, Committed } from "./core.js";

/** Events per pull by a destination queue, and per write to the D1 event index. */
export const FLUSH_BATCH = 2_000;
export const FLUSH_RETRY_MS = 2_000;
/** How long a destination queue may go unheard, with events waiting for it, before the room announces them again. */
const REANNOUNCE_MS = 5_000;
/** A queue not heard from for this long is told of each new event again, even if it was told before. */
const ANNOUNCE_AGAIN_MS = 1_000;
/** Outbox rows with this destination feed the D1 event index instead of a server. */
export const INDEX_DESTINATION = "";

export interface OutboxPorts {
  /** Tells the destination queue of `destination` that this room has events up to `pos` for it. */
  announce(destination: string, roomId: string, pos: number): Promise<void>;
  /** Makes sure the object's alarm fires within `ms`. */
  alarmWithin(ms: number): Promise<void>;
  waitUntil(p: Promise<unknown>): void;
  transaction(fn: () => void): void;
}

/** One destination queue as a room sees it; kept in memory only. */
interface QueueView {
  /** When the queue last pulled from or reported to this room (0: not since this instance started). */
  heard: number;
  /** When the alarm last announced waiting events to it again. */
  reannounced: number;
  /**
   * False while the queue is known to come back for more: it was told of events it has not pulled
   * yet, or its last pull stopped short of what was there. New events then need no announcement of
   * their own, which under load saves an RPC per destination per event.
   */
  mayIdle: boolean;
}

export class Outbox implements CommitListener {
  /** Destinations to tell about newly committed events (destination -> newest position). */
  private readonly announceDue = new Map<string, number>();
  private readonly queues = new Map<string, QueueView>();
  private flushing: Promise<void> | undefined;
  private flushAgain = false;
  private kickWanted = false;
  private roomId: string | undefined;

  constructor(
    readonly fanOut: FanOutLog,
    /** Refuses participants' events while fan-out is too far behind (room-backpressure.ts). */
    private readonly backpressure: FanOutBackpressure,
    private readonly ports: OutboxPorts,
  ) {}

  record(c: Committed): void {
    this.fanOut.save();
    this.fanOut.append(c.pos, [...c.destinations, INDEX_DESTINATION]);
  }

  committed(c: Committed): void {
    this.fanOut.committed();
    this.roomId = c.roomId;
    for (const d of c.destinations) if (this.mayBeIdle(d)) this.announceDue.set(d, c.pos);
    if (c.destinations.length > 0) this.kickWanted = true;
  }

  settle(): void {
    if (!this.kickWanted) return;
    this.kickWanted = false;
    this.kickFlush();
  }

  private kickFlush(): void {
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.flushing = this.announceAll().finally(() => {
      this.flushing = undefined;
      if (this.flushAgain) {
        this.flushAgain = false;
        this.kickFlush();
      }
    });
    this.ports.waitUntil(this.flushing);
  }

  /** Tells queues that this room has events for them; nothing is copied into the queue's storage. */
  private async announceAll(): Promise<void> {
    const roomId = this.roomId;
    if (roomId === undefined) return;
    while (this.announceDue.size > 0) {
      const batch = [...this.announceDue];
      this.announceDue.clear();
      const results = await Promise.allSettled(batch.map(([dest, pos]) => this.ports.announce(dest, roomId, pos)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) {
        console.error("announcing events to a destination queue failed; the alarm announces again", failed.reason);
        await this.ports.alarmWithin(FLUSH_RETRY_MS);
      }
    }
  }

  /**
   * A destination queue's pull: the events queued for `destination` after position `after` (or,
   * when the queue does not know where it stands, after the last one it reported delivered).
   * Passing `after` also reports everything up to it as delivered.
   */
  batch(destination: string, after: number | null, limit: number): { rows: OutboxRow[]; tip: number } {
    if (after !== null) this.markDelivered(destination, after);
    const queue = this.queue(destination);
    queue.heard = Date.now();
    this.backpressure.heard(destination, this.fanOut.cursor(destination), queue.heard);
    const from = after ?? this.fanOut.cursor(destination);
    const max = Math.min(Math.max(1, limit), FLUSH_BATCH);
    const rows = this.fanOut.eventsFor(destination, from, max);
    const last = rows[rows.length - 1]?.pos ?? from;
    const tip = rows.length < max ? last : this.fanOut.tip(destination);
    // Caught up (also when a full batch happens to end at the tip), the queue may go quiet: the next
    // event must be announced. Otherwise the tip tells it to come back.
    queue.mayIdle = tip <= last;
    return { rows, tip };
  }

  /** A destination queue reports the events up to `upTo` delivered. */
  done(destination: string, upTo: number): void {
    this.markDelivered(destination, upTo);
    this.queue(destination).heard = Date.now();
    this.backpressure.heard(destination, this.fanOut.cursor(destination), Date.now());
  }

  /**
   * A transaction's LPDUs arrive: how long to refuse them as a whole, before any is looked at, while
   * this room's newest event is too far ahead of a delivering destination (undefined: take them).
   * `ordering`: this server orders the room (a hub with a timeline); only then is there push-back.
   */
  refusalMs(origin: string, items: ReadonlyArray<{ lpdu?: unknown }>, ordering: boolean): number | undefined {
    if (!items.some((it) => it.lpdu)) return undefined;
    // Room reserved for other origins' retried transactions counts as taken.
    const wait = this.waitMs(ordering, this.backpressure.reservedExcept(origin, Date.now()));
    this.backpressure.release(origin);
    return wait;
  }

  /**
   * Asked before `origin`'s transaction of `count` PDUs is verified: how long it would be refused,
   * or null, in which case room for it is reserved until it arrives (like receive, it may take the
   * backlog up to one transaction past the limit).
   */
  admit(origin: string, count: number, ordering: boolean): number | null {
    const now = Date.now();
    const wait = this.waitMs(ordering, this.backpressure.reservedExcept(origin, now));
    if (wait === undefined) this.backpressure.reserve(origin, count, now);
    return wait ?? null;
  }

  private waitMs(ordering: boolean, extra: number): number | undefined {
    if (!ordering) return undefined;
    const owed = this.fanOut
      .pending()
      .filter(({ destination }) => destination !== INDEX_DESTINATION)
      .map(({ destination }) => ({ destination, backlog: this.fanOut.backlog(destination) }));
    return this.backpressure.retryAfterMs(owed, Date.now(), extra);
  }

  private markDelivered(destination: string, upTo: number): void {
    if (destination === INDEX_DESTINATION) return;
    this.fanOut.delivered(destination, upTo);
  }

  private queue(destination: string): QueueView {
    let q = this.queues.get(destination);
    if (!q) this.queues.set(destination, (q = { heard: 0, reannounced: 0, mayIdle: true }));
    return q;
  }

  /** Whether a new event for `destination` must be announced (see QueueView.mayIdle). */
  private mayBeIdle(destination: string): boolean {
    const q = this.queue(destination);
    // A queue unheard from for a while may have restarted (and forgotten what it was told), or be backing off.
    const idle = q.mayIdle || Date.now() - q.heard > ANNOUNCE_AGAIN_MS;
    if (idle) q.mayIdle = false;
    return idle;
  }

  /**
   * Saves delivery progress, then announces again to every destination still owed events whose queue
   * has not been heard from for a while: a queue keeps its place in memory, so one that restarted
   * (crash, eviction, deploy) learns of this room's events from here. While events are owed, the
   * alarm comes back.
   */
  async reannounce(roomId: string): Promise<void> {
    this.roomId = roomId;
    this.saveProgress();
    const now = Date.now();
    let next: number | undefined;
    for (const { destination, pos } of this.fanOut.pending()) {
      if (destination === INDEX_DESTINATION) continue;
      const q = this.queue(destination);
      // A queue this room stopped announcing to (it was expected back) is told again a second after
      // its last contact; one long silent (down, backing off) every REANNOUNCE_MS.
      const interval = !q.mayIdle && now - q.heard < REANNOUNCE_MS ? ANNOUNCE_AGAIN_MS : REANNOUNCE_MS;
      if (now - Math.max(q.heard, q.reannounced) >= interval) {
        q.reannounced = now;
        this.announceDue.set(destination, Math.max(pos, this.announceDue.get(destination) ?? 0));
      }
      next = Math.min(next ?? interval, interval);
    }
    if (this.announceDue.size > 0) this.kickFlush();
    if (next !== undefined) await this.ports.alarmWithin(next);
  }

  /** Saves delivery cursors (dropping rows every destination has) in a write of its own, for callers outside a commit. */
  saveProgress(): void {
    this.ports.transaction(() => {
      this.fanOut.save();
      this.fanOut.prune();
      this.fanOut.dropUnusedSets();
    });
    this.fanOut.committed();
  }

  /** Deliveries not yet reported delivered, per destination server (admin status). */
  status(): Array<{ destination: string; count: number }> {
    this.saveProgress();
    return this.fanOut.pendingCounts().filter((r) => r.destination !== INDEX_DESTINATION);
  }
}
