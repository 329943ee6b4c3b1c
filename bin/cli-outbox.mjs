// The CLI's outbox command: what a server still owes a destination, and that destination's delivery queue.

import { adminGet } from "./cli-http.mjs";
import { fields, out, printJson, table, when } from "./cli-output.mjs";

async function outbox(ctx, server) {
  const data = await adminGet(ctx, `/destinations/${encodeURIComponent(server)}`);
  if (ctx.options.json) return printJson(data);
  const owed = data.pendingByRoom ?? [];
  const never =
    data.lastSuccessTs === null && data.failures === 0 && data.queuedPdus === 0 && data.queuedEdus === 0 && !data.roomsWaiting && !data.pendingEvents && !data.inFlightTxn;
  if (never) return out(`No deliveries to ${server} yet: nothing queued, nothing sent.`);
  const retry = data.nextAttemptTs === null ? "-" : `${when(data.nextAttemptTs)}${data.nextAttemptTs > Date.now() ? ` (in ${Math.ceil((data.nextAttemptTs - Date.now()) / 1000)} s)` : ""}`;
  const rooms = `${owed.length} room${owed.length === 1 ? "" : "s"}${data.pendingPartial ? " (not every room was asked)" : ""}`;
  out(
    fields([
      ["destination", data.destination || server],
      ["pending events", data.pendingEvents === undefined ? "-" : `${data.pendingEvents}${data.pendingPartial ? "+" : ""} in ${rooms}, not yet reported delivered`],
      ["queued PDUs", String(data.queuedPdus)],
      ["queued EDUs", String(data.queuedEdus)],
      ["rooms queued", String(data.roomsWaiting ?? 0)],
      ["in flight", data.inFlightTxn ?? "-"],
      ["failures", String(data.failures)],
      ["next attempt", retry],
      ["last error", data.lastError ?? "-"],
      ["last success", when(data.lastSuccessTs)],
    ]),
  );
  if (owed.length > 0) out(`\nPending per room:\n${table(["room", "pending"], owed.map((o) => [o.roomId, String(o.count)]))}`);
}


export const outboxCommands = {
  outbox: {
    args: "<server>",
    summary: "what is pending for a destination server, and its delivery queue",
    help: `Shows what this server still has to deliver to a remote server: the events its hub rooms
hold for it until delivery is reported (per room, the counts "switchboard room" shows), the PDUs
and EDUs stored in its delivery queue, the transaction in flight, consecutive failures, next retry,
last error and last success.`,
    options: {},
    positionals: ["server"],
    run: outbox,
  },
};
