// Push-back on senders while a hub room's fan-out is behind. Under saturation the hub's thread
// shares its time among in-flight chains of work, and each accepted event becomes one chain per
// destination: acceptance then runs far ahead of delivery and the undelivered backlog grows without
// bound (issue 13 item 15, bench/README.md). So a hub room refuses new LPDUs (429 M_LIMIT_EXCEEDED
// with retry_after_ms) while the newest event is more than FANOUT_BACKLOG_LIMIT positions ahead of
// the slowest destination that is currently delivering. A destination whose queue has not pulled
// for LIVE_MS (down, backing off, or slower than that per transaction) does not count: it catches
// up from the outbox, which keeps its rows, when it comes back; one offline server cannot stop a room.
//
// A transaction of several PDUs is asked about before its signatures are verified (Inbox); when it
// may come in, its events are reserved for a while, so that of many senders sending at once only as
// many are verified as the room will take, rather than all of them and most refused.

export const DEFAULT_BACKLOG_LIMIT = 1_000;
/** A destination queue that pulled or reported within this long counts as delivering. */
export const LIVE_MS = 3_000;
// Asking again is cheap (the Inbox asks the room before the transaction is verified again), so the
// wait errs short: a sender waiting while the backlog is already gone leaves the hub idle.
const MIN_RETRY_MS = 20;
const MAX_RETRY_MS = 500;
/** Assumed when a destination's delivery rate is not known yet, or slower (events per second). */
const MIN_RATE = 2_000;
/** How long headroom is held for a transaction let through to verification. */
const RESERVE_MS = 5_000;

/** FANOUT_BACKLOG_LIMIT as configured: a positive integer, else the default. */
export function backlogLimit(configured: string | undefined): number {
  const n = Number(configured);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_BACKLOG_LIMIT;
}

interface Progress {
  heard: number;
  /** Events per second, smoothed, from the moves of the destination's cursor. */
  rate: number;
  sampleAt: number;
  sampleCursor: number;
}

export class FanOutBackpressure {
  private readonly progress = new Map<string, Progress>();
  /** Per origin, events of its transaction let through to verification (see the top of this file). */
  private readonly reserved = new Map<string, { count: number; until: number }>();

  constructor(private readonly limit: number) {}

  /** A destination's queue was heard from (a pull or a report), having everything up to `cursor`. */
  heard(destination: string, cursor: number, now: number): void {
    const p = this.progress.get(destination);
    if (!p) {
      this.progress.set(destination, { heard: now, rate: 0, sampleAt: now, sampleCursor: cursor });
      return;
    }
    p.heard = now;
    const dt = now - p.sampleAt;
    if (dt >= 200) {
      const rate = (Math.max(0, cursor - p.sampleCursor) * 1000) / dt;
      p.rate = p.rate === 0 ? rate : 0.5 * p.rate + 0.5 * rate;
      p.sampleAt = now;
      p.sampleCursor = cursor;
    }
  }

  /**
   * How long senders should wait before the room takes more events, or undefined to take them now.
   * `owed`: each destination still owed events, with how many it has not had (its backlog).
   */
  retryAfterMs(owed: Iterable<{ destination: string; backlog: number }>, now: number, extra = 0): number | undefined {
    let slowest: { backlog: number; rate: number } | undefined;
    for (const { destination, backlog } of owed) {
      const p = this.progress.get(destination);
      if (!p || now - p.heard > LIVE_MS) continue;
      if (!slowest || backlog > slowest.backlog) slowest = { backlog, rate: p.rate };
    }
    if (!slowest || slowest.backlog + extra < this.limit) return undefined;
    // Long enough for the slowest to get a quarter of the limit under it at the rate it has been
    // delivering (once senders wait, the hub's thread is its own and that rate rises).
    const excess = slowest.backlog + extra - (3 * this.limit) / 4;
    const ms = (excess * 1000) / Math.max(slowest.rate, MIN_RATE);
    return Math.round(Math.min(MAX_RETRY_MS, Math.max(MIN_RETRY_MS, ms)));
  }

  /** Events reserved by origins other than `origin`, forgetting expired reservations. */
  reservedExcept(origin: string, now: number): number {
    let sum = 0;
    for (const [o, r] of this.reserved) {
      if (r.until <= now) this.reserved.delete(o);
      else if (o !== origin) sum += r.count;
    }
    return sum;
  }

  /** Holds room for `count` events of `origin`'s transaction until it arrives (or RESERVE_MS pass). */
  reserve(origin: string, count: number, now: number): void {
    this.reserved.set(origin, { count, until: now + RESERVE_MS });
  }

  release(origin: string): void {
    this.reserved.delete(origin);
  }

  /** The backlog this room holds itself to (events), for status pages and tests. */
  get bound(): number {
    return this.limit;
  }
}
