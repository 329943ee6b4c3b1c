// One remote server's delivery queue. Rooms hand it their accepted PDUs (or, as participant, their
// LPDUs for the hub); it sends them in arrival order, in transactions of at most 50 PDUs and 100
// EDUs, one transaction in flight at a time as the draft requires of a sender. A transaction keeps
// its ID across retries so the receiver can answer a repeat without processing it again. Retries
// back off and are driven by the DO alarm; the queue lives in SQLite, so a restart loses nothing.

import { DurableObject } from "cloudflare:workers";

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
  queuedPdus: number;
  queuedEdus: number;
  inFlightTxn: string | null;
  failures: number;
  nextAttemptTs: number | null;
  lastError: string | null;
  lastSuccessTs: number | null;
}

const MAX_PDUS = 50;
const MAX_EDUS = 100;
const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS queue (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL,
     room_id TEXT NOT NULL,
     item_id TEXT NOT NULL,
     lpdu_hash TEXT,
     json TEXT NOT NULL,
     txn_id TEXT -- unused since transaction IDs derive from sequence numbers; kept for old queues
   )`,
  `CREATE UNIQUE INDEX IF NOT EXISTS queue_item ON queue (kind, item_id)`,
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
];

export class Destination extends DurableObject<Env> {
  private sending: Promise<void> | undefined;
  private again = false;
  private inFlight: string | null = null;
  /**
   * The meta table as last read or written by this object, its only writer. Reads on the hot path
   * (every enqueue and transaction) come from here instead of a SELECT each.
   */
  private readonly metaCache = new Map<string, string | undefined>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    for (const s of SCHEMA) ctx.storage.sql.exec(s);
  }

  private get sql(): SqlStorage {
    return this.ctx.storage.sql;
  }

  private meta(key: string): string | undefined {
    if (this.metaCache.has(key)) return this.metaCache.get(key);
    const value = this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = ?`, key).toArray()[0]?.value;
    this.metaCache.set(key, value);
    return value;
  }

  private setMeta(key: string, value: string | number | null): void {
    const v = value === null ? undefined : String(value);
    if (this.metaCache.has(key) && this.metaCache.get(key) === v) return;
    if (v === undefined) this.sql.exec(`DELETE FROM meta WHERE key = ?`, key);
    else this.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, key, v);
    this.metaCache.set(key, v);
  }

  /** transactionSync that forgets cached meta when it rolls back (the cache may hold its writes). */
  private atomically(fn: () => void): void {
    try {
      this.ctx.storage.transactionSync(fn);
    } catch (e) {
      this.metaCache.clear();
      throw e;
    }
  }

  /** Adds items to the queue (idempotent per item) and starts sending. */
  async enqueue(destination: string, items: QueueItem[]): Promise<void> {
    if (this.meta("destination") === undefined) this.setMeta("destination", destination);
    // One statement for the whole batch (a room hands over up to hundreds of events at once): the
    // items travel as one JSON parameter and SQLite unpacks them, in order, with json_each.
    const rows = items.map((it) => [it.kind ?? "pdu", it.roomId, it.id, it.lpduHash ?? null, it.json]);
    this.sql.exec(
      `INSERT OR IGNORE INTO queue (kind, room_id, item_id, lpdu_hash, json)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?) ORDER BY key`,
      JSON.stringify(rows),
    );
    // A new item is a good moment to retry a backed-off destination only if the backoff has passed.
    const next = Number(this.meta("next_attempt_ts") ?? 0);
    if (Date.now() >= next) this.kick();
    else await this.ctx.storage.setAlarm(next);
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

  /** Sends transactions until the queue is empty or a send fails. */
  private async drain(): Promise<void> {
    const destination = this.meta("destination");
    if (destination === undefined) return;
    // Backing off (a repeat kick after a failed send): the alarm will call again.
    if (Number(this.meta("next_attempt_ts") ?? 0) > Date.now()) return;
    // Should this object die mid-send (crash, eviction, deploy), the alarm resumes the queue;
    // otherwise nothing would until more traffic for this destination arrived.
    await this.ctx.storage.setAlarm(Date.now() + this.retryDelay(1));
    for (;;) {
      const txn = this.nextTransaction();
      if (!txn) {
        await this.ctx.storage.deleteAlarm();
        return;
      }
      this.inFlight = txn.txnId;
      const res = await this.env.OUTBOUND.sendTransactionCanonical(destination, txn.txnId, txn.body);
      this.inFlight = null;
      if (res.status !== 200) {
        await this.backOff(`HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
        return;
      }
      await this.reportFailures(txn, res.body);
      this.atomically(() => {
        this.sql.exec(`DELETE FROM queue WHERE (kind = 'pdu' AND seq <= ?) OR (kind = 'edu' AND seq <= ?)`, txn.lastPduSeq, txn.lastEduSeq);
        this.setMeta("failures", 0);
        this.setMeta("next_attempt_ts", null);
        this.setMeta("last_error", null);
        this.setMeta("last_success_ts", Date.now());
      });
    }
  }

  /**
   * The oldest MAX_PDUS PDUs and MAX_EDUS EDUs. The transaction ID names the rows' sequence numbers,
   * so a resend after a restart, over the same rows, carries the same ID without writing it down;
   * should more rows have joined a batch that was not full, the ID differs and the receiver drops
   * the events it already has.
   */
  private nextTransaction(): { txnId: string; lastPduSeq: number; lastEduSeq: number; body: string; rows: Array<{ kind: string; room_id: string; item_id: string; lpdu_hash: string | null }> } | undefined {
    type Row = { seq: number; kind: string; room_id: string; item_id: string; lpdu_hash: string | null; json: string };
    const pduRows = this.sql.exec<Row>(`SELECT seq, kind, room_id, item_id, lpdu_hash, json FROM queue WHERE kind = 'pdu' ORDER BY seq LIMIT ?`, MAX_PDUS).toArray();
    // EDUs are looked up through their index: a scan would read the whole queue when there are none.
    const eduRows = this.sql.exec<Row>(`SELECT seq, kind, room_id, item_id, lpdu_hash, json FROM queue INDEXED BY queue_item WHERE kind = 'edu' ORDER BY seq LIMIT ?`, MAX_EDUS).toArray();
    if (pduRows.length === 0 && eduRows.length === 0) return undefined;
    const span = (rows: Row[]) => (rows.length === 0 ? "" : `${(rows[0] as Row).seq}-${(rows[rows.length - 1] as Row).seq}`);
    const id = this.ctx.id.toString().slice(0, 8);
    return {
      txnId: `${id}.p${span(pduRows)}.e${span(eduRows)}`,
      lastPduSeq: pduRows[pduRows.length - 1]?.seq ?? -1,
      lastEduSeq: eduRows[eduRows.length - 1]?.seq ?? -1,
      // Items are stored as canonical JSON, so the transaction is assembled as text in canonical key
      // order (edus < origin < origin_server_ts < pdus) instead of being parsed and encoded again.
      body: `{"edus":[${eduRows.map((r) => r.json).join(",")}],"origin":${JSON.stringify(this.env.SERVER_NAME)},"origin_server_ts":${Date.now()},"pdus":[${pduRows.map((r) => r.json).join(",")}]}`,
      rows: [...pduRows, ...eduRows],
    };
  }

  /** Tells rooms which of their LPDUs the hub refused, so waiting clients learn why. */
  private async reportFailures(txn: { rows: Array<{ room_id: string; item_id: string; lpdu_hash: string | null }> }, body: unknown): Promise<void> {
    const failed = (body as { failed_pdus?: unknown } | null)?.failed_pdus;
    if (typeof failed !== "object" || failed === null) return;
    for (const r of txn.rows) {
      const f = (failed as Record<string, unknown>)[r.item_id];
      if (f === undefined || r.lpdu_hash === null) continue;
      const error = typeof (f as { error?: unknown }).error === "string" ? (f as { error: string }).error : "rejected";
      const room = this.env.ROOM.get(this.env.ROOM.idFromName(r.room_id));
      await room.lpduRejected(r.lpdu_hash, error).catch(() => undefined);
    }
  }

  private async backOff(error: string): Promise<void> {
    const failures = Number(this.meta("failures") ?? 0) + 1;
    const next = Date.now() + this.retryDelay(failures);
    this.setMeta("failures", failures);
    this.setMeta("next_attempt_ts", next);
    this.setMeta("last_error", error);
    await this.ctx.storage.setAlarm(next);
  }

  /** The wait before attempt `failures` + 1: FEDERATION_RETRY_BASE_MS doubling up to FEDERATION_RETRY_MAX_MS. */
  private retryDelay(failures: number): number {
    const base = Number(this.env.FEDERATION_RETRY_BASE_MS ?? "") || 1_000;
    const max = Number(this.env.FEDERATION_RETRY_MAX_MS ?? "") || 10 * 60 * 1000;
    return Math.min(max, base * 2 ** Math.min(failures - 1, 20));
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
    const counts = this.sql.exec<{ kind: string; n: number }>(`SELECT kind, COUNT(*) AS n FROM queue GROUP BY kind`).toArray();
    const next = this.meta("next_attempt_ts");
    const last = this.meta("last_success_ts");
    return {
      destination: this.meta("destination") ?? "",
      queuedPdus: counts.find((c) => c.kind === "pdu")?.n ?? 0,
      queuedEdus: counts.find((c) => c.kind === "edu")?.n ?? 0,
      inFlightTxn: this.inFlight,
      failures: Number(this.meta("failures") ?? 0),
      nextAttemptTs: next === undefined ? null : Number(next),
      lastError: this.meta("last_error") ?? null,
      lastSuccessTs: last === undefined ? null : Number(last),
    };
  }
}
