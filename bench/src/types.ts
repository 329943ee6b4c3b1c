// Parameters and answers of the load generator's methods (see loadgen.ts).

export interface Account {
  url: string;
  userId: string;
  token: string;
}

export interface RegisterParams {
  url: string;
  username: string;
}

export interface CreateRoomsParams {
  account: Account;
  count: number;
  concurrency: number;
}

export interface ClientJoinParams {
  account: Account;
  roomId: string;
  via: string;
}

export interface JoinTiming {
  makeJoinMs: number;
  sendJoinMs: number;
  /** Size of the send_join answer body. */
  bytes: number;
  stateEvents: number;
  authChain: number;
}

export interface PrepareParams {
  key: string;
  /** One closed-loop sender per entry: a fake server and the room it sends to. */
  senders: Array<{ fake: string; roomId: string }>;
  pdusPerTxn: number;
  txnsPerSender: number;
}

export interface PrepareResult {
  events: number;
  ms: number;
  bytesPerTxn: number;
}

export interface RunParams {
  key: string;
  warmupMs: number;
  durationMs: number;
  /** Send to this Host instead of the hub's (the baseline worker's protocol floor). */
  host?: string;
}

export interface RunResult {
  /** The measurement window (after warm-up; ends early if a sender ran out of prepared transactions). */
  windowMs: number;
  eventsInWindow: number;
  txnsInWindow: number;
  /** Everything sent, warm-up included (what the hub had to process). */
  sentEvents: number;
  /** 429 answers (the hub pushing back while its fan-out catches up), each waited out and sent again; and the waits asked for, in all. */
  pushedBack?: number;
  pushedBackMs?: number;
  failed: number;
  errors: number;
  firstError?: string;
  exhausted: boolean;
  /** Per sender: latencies (ms) of transactions started and answered inside the window. */
  latencies: number[][];
  /** Of the same transactions, the time inside the hub's Worker (its Server-Timing), all senders. */
  handlerMs?: number[];
  /** Per sender: its room. */
  rooms: string[];
}

export interface BaselineParams {
  host: string;
  log: string;
  concurrency: number;
  rowsPerReq: number;
  warmupMs: number;
  durationMs: number;
  /** A fake server whose message LPDU is used as the row (same size as a real event). */
  rowFrom: string;
  /** Calls to a do-nothing object before each append (default 0). */
  hops?: number;
}

export interface B2Params {
  roomId: string;
  sender: Account;
  participants: Account[];
  rate: number;
  durationMs: number;
}

export interface B2Result {
  offered: number;
  offeredMs: number;
  errors: number;
  firstError?: string;
  missing: number;
  limitedSyncs: number;
  /** Hub's acknowledgement to the last participant's client seeing the event (ms). */
  fromAck: number[];
  /** Request start to the last participant (ms). */
  fromSend: number[];
  /** Request start to the hub's acknowledgement (ms). */
  accept: number[];
}

export interface SeedParams {
  roomId: string;
  fakes: string[];
  count: number;
  /** Distinguishes the user names of successive seeding rounds. */
  round: number;
}

export interface B5Params {
  host: string;
  fake: string;
  roomId: string;
  n: number;
  reps: number;
}

export interface B5Result {
  /** Microseconds per check, by "mode/body". */
  perCheckUs: Record<string, number>;
  n: number;
  reps: number;
  parseMs: { t1: number; t50: number };
}
