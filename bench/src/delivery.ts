// Delivered throughput: what reached every destination, not what the hub acknowledged. The load
// generator's simulated servers note when each fan-out transaction arrives and how many PDUs it
// carries; together with the senders' acknowledgements (same process, same clock) that gives, at any
// moment, how many accepted events the slowest destination still lacked.

/** A fan-out transaction's arrival at one destination: when (performance.now) and how many PDUs. */
export interface Arrival {
  t: number;
  n: number;
}

/** A sender's acknowledged transaction: when the answer came and how many of its PDUs were accepted. */
export interface Ack {
  t: number;
  n: number;
}

export interface DeliveryFigures {
  /** Events the hub accepted over the whole run (warm-up included). */
  accepted: number;
  destinations: number;
  /** Accepted events the slowest destination still lacked when the report was taken (0: all delivered). */
  undelivered: number;
  /** From the first send to the moment the last destination had every accepted event. */
  firstSendToLastDeliveryMs?: number;
  /** accepted ÷ firstSendToLastDeliveryMs: the rate that reached every destination, sustained. */
  deliveredPerS?: number;
  /** Inside the measurement window, events the slowest destination received, per second (compare with accepted events/s). */
  windowDeliveredPerS: number;
  /** From the last acknowledgement to the last delivery. */
  lastAckToLastDeliveryMs?: number;
  /** The largest number of accepted events the slowest destination lacked at any moment. */
  maxBacklog: number;
  /** The same when the senders stopped (the last acknowledgement), and 5 s later. */
  backlogAtLastAck: number;
  backlog5sAfterLastAck: number;
}

export interface DeliveryInput {
  firstSend: number;
  windowStart: number;
  windowEnd: number;
  acks: Ack[];
  /** Per destination, its arrivals in order. */
  arrivals: Arrival[][];
}

/** Figures from acknowledgements and arrivals; every time is on the load generator's clock. */
export function deliveryFigures(d: DeliveryInput): DeliveryFigures {
  const acks = [...d.acks].sort((a, b) => a.t - b.t);
  const accepted = acks.reduce((s, a) => s + a.n, 0);
  const lastAck = acks[acks.length - 1]?.t ?? d.firstSend;
  const k = d.arrivals.length;
  // One time line of every acknowledgement and arrival; ties: acknowledgements first (the larger backlog).
  type Step = { t: number; n: number; dest: number };
  const steps: Step[] = acks.map((a) => ({ t: a.t, n: a.n, dest: -1 }));
  d.arrivals.forEach((list, dest) => list.forEach((a) => steps.push({ t: a.t, n: a.n, dest })));
  steps.sort((a, b) => a.t - b.t || a.dest - b.dest);
  const have = new Array<number>(k).fill(0);
  const done = new Array<number | undefined>(k).fill(undefined);
  let acked = 0;
  let maxBacklog = 0;
  let backlogAtLastAck = 0;
  let backlog5s: number | undefined;
  const backlogNow = () => Math.max(0, acked - Math.min(...have));
  for (const s of steps) {
    if (backlog5s === undefined && s.t > lastAck + 5_000) backlog5s = backlogNow();
    if (s.dest < 0) acked += s.n;
    else {
      have[s.dest] = (have[s.dest] ?? 0) + s.n;
      if (done[s.dest] === undefined && (have[s.dest] ?? 0) >= accepted) done[s.dest] = s.t;
    }
    const b = backlogNow();
    maxBacklog = Math.max(maxBacklog, b);
    if (s.t <= lastAck) backlogAtLastAck = b;
  }
  const undelivered = Math.max(0, accepted - Math.min(...have));
  backlog5s ??= undelivered;
  const allDone = k > 0 && done.every((t) => t !== undefined);
  const lastDelivery = allDone ? Math.max(...(done as number[])) : undefined;
  const windowMs = d.windowEnd - d.windowStart;
  const inWindow = d.arrivals.map((list) => list.filter((a) => a.t > d.windowStart && a.t <= d.windowEnd).reduce((s, a) => s + a.n, 0));
  const span = lastDelivery === undefined ? undefined : Math.max(lastDelivery, lastAck) - d.firstSend;
  return {
    accepted,
    destinations: k,
    undelivered,
    ...(span === undefined ? {} : { firstSendToLastDeliveryMs: Math.round(span), deliveredPerS: Math.round((accepted * 1000) / span) }),
    windowDeliveredPerS: windowMs > 0 && k > 0 ? Math.round((Math.min(...inWindow) * 1000) / windowMs) : 0,
    ...(lastDelivery === undefined ? {} : { lastAckToLastDeliveryMs: Math.round(Math.max(0, lastDelivery - lastAck)) }),
    maxBacklog,
    backlogAtLastAck,
    backlog5sAfterLastAck: backlog5s,
  };
}
