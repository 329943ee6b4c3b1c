// One remote server's delivery queue. It sends, in transactions of at most 50 PDUs and 100 EDUs,
// one transaction in flight at a time as the draft requires of a sender:
// - hub rooms' events, pulled from each room's outbox (the durable record of what this server still
//   needs) after the room announces them, and reported back as delivered; only its place per room is
//   kept, in memory. A busy queue learns of new events from each pull's answer (the room's tip);
//   should this object restart, the rooms announce again (durable-objects/room/outbox.ts);
// - items with no other durable home (our participant rooms' LPDUs for their hub, EDUs), in SQLite.
// A transaction keeps its ID across retries so the receiver can answer a repeat without processing
// it again. Retries back off and are driven by the DO alarm; a 429 is waited out as asked
// (destination-retry.ts).

import { DurableObject } from "cloudflare:workers";
import { pushBackDelay, retryDelay } from "./destination-retry.js";
import { hasWork, type RoomCursor } from "./destination-rooms.js";
import { DestinationStorage, type QueuedRow } from "./destination-storage.js";

export interface QueueItem {
  roomId: string;
  /** The event ID (or, for an LPDU, the ID of the LPDU as sent); duplicates are dropped. */
  id: string;
  /** Canonical JSON (shared/canonical-json.ts): transactions are assembled from it as text. */
  json: string;
  /** Set for LPDUs: lets the room match the hub's rejection to its waiting client. */
  lpduHash?: string;
  kind?: "pdu" | "edu";
}

export interface DestinationStatus {
  destination: string;
  /** PDUs stored here (LPDUs) plus those of the transaction being sent or retried. */
  queuedPdus: number;
  /** Rooms whose announced events have not all been pulled yet. */
  roomsWaiting: number;
  queuedEdus: number;
  inFlightTxn: string | null;
  failures: number;
  /** 429 answers waited out since this object started (the receiver pushing back; not failures). */
  pushedBack: number;
  nextAttemptTs: number | null;
  lastError: string | null;
  lastSuccessTs: number | null;
}

const MAX_PDUS = 50;
const MAX_EDUS = 100;
/** How long a room's delivered position may wait to ride on the next pull before it is reported on its own. */
const REPORT_DELAY_MS = 500;
const MAX_ROOM_CURSORS = 10_000;

interface PulledRow {
  roomId: string;
  pos: number;
  json: string;
}

interface Transaction {
  txnId: string;
  lastPduSeq: number;
  lastEduSeq: number;
  body: string;
  /** Stored rows (their room and, for LPDUs, hash: to report the hub's rejections). */
  rows: Array<{ kind: string; room_id: string; item_id: string; lpdu_hash: string | null }>;
  /** Per room, the last pulled position this transaction carries. */
  pulled: Map<string, number>;
  pulledCount: number;
}

export class Destination extends DurableObject<Env> {
  private sending: Promise<void> | undefined;
  private again = false;
  private inFlight: string | null = null;
  private readonly rooms = new Map<string, RoomCursor>();
  /** A transaction that failed, resent as it was (same ID, same body) when the backoff ends. */
  private held: Transaction | undefined;
  /** False until the stored queue is known to be empty (after a read finds nothing, until the next enqueue). */
  private storedEmpty = false;
  private reportTimer: ReturnType<typeof setTimeout> | undefined;
  /** The receiver asked us to wait until then (429 retry_after_ms); its contacting us (wake) does not end that. */
  private pushedBackUntil = 0;
  private pushedBack = 0;
  /** Kept in memory: writing it after every transaction would cost a write transaction each. */
  private lastSuccessTs: number | undefined;
  private readonly store: DestinationStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new DestinationStorage(ctx.storage);
  }

  private meta(key: string): string | undefined {
    return this.store.meta(key);
  }

  private setMeta(key: string, value: string | number | null): void {
    this.store.setMeta(key, value);
  }

  /** Adds items to the queue (idempotent per item) and starts sending. */
  async enqueue(destination: string, items: QueueItem[]): Promise<void> {
    if (this.meta("destination") === undefined) this.setMeta("destination", destination);
    this.storedEmpty = false;
    this.store.enqueue(items.map((it) => ({ kind: it.kind ?? "pdu", roomId: it.roomId, itemId: it.id, lpduHash: it.lpduHash ?? null, json: it.json })));
    await this.kickUnlessBackingOff();
  }

  /** A hub room has events for this destination up to position `upTo`, in its outbox. */
  async roomHasEvents(destination: string, roomId: string, upTo: number): Promise<void> {
    if (this.meta("destination") === undefined) this.setMeta("destination", destination);
    const cursor = this.rooms.get(roomId);
    if (cursor) cursor.available = Math.max(cursor.available, upTo);
    else this.rooms.set(roomId, { available: upTo, sent: null, unreported: false, probe: false });
    await this.kickUnlessBackingOff();
  }

  /** New work is a good moment to retry a backed-off destination only if the backoff has passed. */
  private async kickUnlessBackingOff(): Promise<void> {
    const next = Math.max(Number(this.meta("next_attempt_ts") ?? 0), this.pushedBackUntil);
    if (Date.now() >= next) this.kick();
    else if ((await this.ctx.storage.getAlarm()) !== next) await this.ctx.storage.setAlarm(next);
  }

  private kick(): void {
    if (this.sending) {
      this.again = true;
      return;
    }
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
    this.ctx.waitUntil(this.sending);
  }

  /** Sends transactions until nothing is left or a send fails. */
  private async drain(): Promise<void> {
    const destination = this.meta("destination");
    if (destination === undefined) return;
    // Backing off (a repeat kick after a failed send) or pushed back: the alarm will call again.
    if (Math.max(Number(this.meta("next_attempt_ts") ?? 0), this.pushedBackUntil) > Date.now()) return;
    let alarmSet = false;
    for (;;) {
      const txn = this.held ?? (await this.nextTransaction(destination));
      this.held = undefined;
      if (!txn) break;
      // Should this object die mid-send (crash, eviction, deploy), the alarm resumes the stored
      // queue; pulled events need none, their rooms announce them again.
      if (!alarmSet && txn.rows.length > 0) {
        await this.ctx.storage.setAlarm(Date.now() + retryDelay(this.env, 1));
        alarmSet = true;
      }
      this.inFlight = txn.txnId;
      const res = await this.env.OUTBOUND.sendTransactionCanonical(destination, txn.txnId, txn.body);
      this.inFlight = null;
      const wait = pushBackDelay(this.env, res.status, res.body);
      if (wait !== undefined) {
        this.held = txn;
        this.pushedBackUntil = Date.now() + wait;
        this.pushedBack++;
        await this.ctx.storage.setAlarm(this.pushedBackUntil);
        return;
      }
      if (res.status !== 200) {
        this.held = txn;
        await this.backOff(`HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
        return;
      }
      await this.reportFailures(txn, res.body);
      this.lastSuccessTs = Date.now();
      const failures = this.meta("failures");
      const recovered = failures !== undefined && failures !== "0";
      if (recovered) for (const cursor of this.rooms.values()) cursor.probe = true;
      if (txn.rows.length > 0 || recovered) {
        this.store.atomically(() => {
          if (txn.rows.length > 0) this.store.deleteDelivered(txn.lastPduSeq, txn.lastEduSeq);
          this.setMeta("failures", 0);
          this.setMeta("next_attempt_ts", null);
          this.setMeta("last_error", null);
          this.setMeta("last_success_ts", this.lastSuccessTs ?? null);
        });
      }
      for (const [roomId, pos] of txn.pulled) {
        const cursor = this.rooms.get(roomId);
        if (!cursor) continue;
        cursor.sent = Math.max(cursor.sent ?? 0, pos);
        cursor.unreported = true;
      }
      this.scheduleReport(destination);
    }
    if (alarmSet) await this.ctx.storage.deleteAlarm();
  }

  /**
   * The next transaction: stored PDUs and EDUs first (oldest first), then events pulled from the
   * rooms that announced some, each room's in its order. Undefined when there is nothing to send.
   */
  private async nextTransaction(destination: string): Promise<Transaction | undefined> {
    let pduRows: QueuedRow[] = [];
    let eduRows: QueuedRow[] = [];
    if (!this.storedEmpty) {
      pduRows = this.store.oldestPdus(MAX_PDUS);
      eduRows = this.store.oldestEdus(MAX_EDUS);
      if (pduRows.length === 0 && eduRows.length === 0) this.storedEmpty = true;
    }
    const pulled = await this.pull(destination, MAX_PDUS - pduRows.length);
    if (pduRows.length === 0 && eduRows.length === 0 && pulled.length === 0) return undefined;
    const span = (rows: Array<{ seq: number }>) => (rows.length === 0 ? "" : `${(rows[0] as QueuedRow).seq}-${(rows[rows.length - 1] as QueuedRow).seq}`);
    const spans = new Map<string, { first: number; last: number }>();
    for (const r of pulled) {
      const span = spans.get(r.roomId);
      if (span) span.last = r.pos;
      else spans.set(r.roomId, { first: r.pos, last: r.pos });
    }
    // Pulled events are named by room and position range, so the ID says what the transaction holds.
    const roomsPart = pulled.length === 0 ? "" : `.r${fnv1a([...spans].map(([room, { first, last }]) => `${room}:${first}-${last}`).join(";"))}`;
    const id = this.store.txnPrefix();
    const pdus = [...pduRows.map((r) => r.json), ...pulled.map((r) => r.json)];
    return {
      txnId: `${id}.p${span(pduRows)}.e${span(eduRows)}${roomsPart}`,
      lastPduSeq: pduRows[pduRows.length - 1]?.seq ?? -1,
      lastEduSeq: eduRows[eduRows.length - 1]?.seq ?? -1,
      // Items are stored as canonical JSON, so the transaction is assembled as text in canonical key
      // order (edus < origin < origin_server_ts < pdus) instead of being parsed and encoded again.
      body: `{"edus":[${eduRows.map((r) => r.json).join(",")}],"origin":${JSON.stringify(this.env.SERVER_NAME)},"origin_server_ts":${Date.now()},"pdus":[${pdus.join(",")}]}`,
      rows: [...pduRows, ...eduRows],
      pulled: new Map([...spans].map(([room, { last }]) => [room, last])),
      pulledCount: pulled.length,
    };
  }

  /** Up to `limit` events from rooms with announced events not yet sent; a pull also reports the room's delivered position. */
  private async pull(destination: string, limit: number): Promise<PulledRow[]> {
    const out: PulledRow[] = [];
    for (const [roomId, cursor] of this.rooms) {
      if (out.length >= limit) break;
      if (!hasWork(cursor)) continue;
      const room = this.env.ROOM.get(this.env.ROOM.idFromName(roomId));
      // Announcements may arrive while the pull is out; only what was announced before it counts here.
      const announced = cursor.available;
      let rows: Array<{ pos: number; json: string }>;
      try {
        const batch = await room.fanOutBatch(destination, cursor.sent, limit - out.length);
        rows = batch.rows;
        // The room does not announce events to a queue it knows will come back: the tip says what there is.
        cursor.available = Math.max(cursor.available, batch.tip);
        cursor.probe = false;
      } catch (e) {
        // Left for later: the room announces again while its events wait (Outbox.reannounce).
        console.error(`pulling ${roomId}'s events for ${destination} failed`, e);
        continue;
      }
      cursor.unreported = false;
      const last = rows[rows.length - 1];
      // Nothing after our place: what was announced had been delivered already (by an earlier instance of this object).
      if (!last) cursor.sent = Math.max(cursor.sent ?? 0, announced);
      else cursor.available = Math.max(cursor.available, last.pos);
      for (const r of rows) out.push({ roomId, pos: r.pos, json: r.json });
    }
    return out;
  }

  /**
   * Tells rooms what was delivered that no later pull has told them, after a short delay: under
   * load the next pull carries it; when traffic stops, this lets the rooms drop their outbox rows.
   */
  private scheduleReport(destination: string): void {
    if (this.reportTimer !== undefined) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = undefined;
      for (const [roomId, cursor] of this.rooms) {
        if (!cursor.unreported || cursor.sent === null) continue;
        cursor.unreported = false;
        const room = this.env.ROOM.get(this.env.ROOM.idFromName(roomId));
        this.ctx.waitUntil(room.fanOutDone(destination, cursor.sent).catch(() => undefined));
      }
      // Bounded memory on a server that shares very many rooms: caught-up rooms are forgotten (a
      // later announcement starts from what the room was told was delivered).
      if (this.rooms.size > MAX_ROOM_CURSORS) {
        for (const [roomId, c] of this.rooms) if (!c.unreported && c.sent !== null && c.sent >= c.available) this.rooms.delete(roomId);
      }
    }, REPORT_DELAY_MS);
  }

  /** Tells rooms which of their LPDUs the hub refused, so waiting clients learn why. */
  private async reportFailures(txn: Transaction, body: unknown): Promise<void> {
    const failed = (body as { failed_pdus?: unknown } | null)?.failed_pdus;
    if (typeof failed !== "object" || failed === null) return;
    for (const r of txn.rows) {
      const f = (failed as Record<string, unknown>)[r.item_id];
      if (f === undefined || r.lpdu_hash === null) continue;
      const error = typeof (f as { error?: unknown }).error === "string" ? (f as { error: string }).error : "rejected";
      const room = this.env.ROOM.get(this.env.ROOM.idFromName(r.room_id));
      await room.lpduRejected(r.lpdu_hash, error, f as Record<string, unknown>).catch(() => undefined);
    }
  }

  private async backOff(error: string): Promise<void> {
    const failures = Number(this.meta("failures") ?? 0) + 1;
    const next = Date.now() + retryDelay(this.env, failures);
    this.setMeta("failures", failures);
    this.setMeta("next_attempt_ts", next);
    this.setMeta("last_error", error);
    await this.ctx.storage.setAlarm(next);
  }

  override async alarm(): Promise<void> {
    this.setMeta("next_attempt_ts", null);
    this.kick();
    await this.sending;
  }

  /** Retry now, e.g. when the destination has just contacted us (it is evidently back). */
  async wake(): Promise<void> {
    if (this.meta("next_attempt_ts") === undefined) return;
    this.setMeta("next_attempt_ts", null);
    this.kick();
  }

  async status(): Promise<DestinationStatus> {
    const counts = this.store.countsByKind();
    const stored = this.meta("next_attempt_ts");
    const next = this.pushedBackUntil > Date.now() ? Math.max(Number(stored ?? 0), this.pushedBackUntil) : stored === undefined ? null : Number(stored);
    const last = this.lastSuccessTs ?? this.meta("last_success_ts");
    return {
      destination: this.meta("destination") ?? "",
      queuedPdus: counts.pdu + (this.held?.pulledCount ?? 0),
      roomsWaiting: [...this.rooms.values()].filter(hasWork).length,
      queuedEdus: counts.edu,
      inFlightTxn: this.inFlight,
      failures: Number(this.meta("failures") ?? 0),
      pushedBack: this.pushedBack,
      nextAttemptTs: next,
      lastError: this.meta("last_error") ?? null,
      lastSuccessTs: last === undefined ? null : Number(last),
    };
  }
}

/** FNV-1a, 32-bit, in base 36: a short, stable name for what a transaction carries. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36);
}
