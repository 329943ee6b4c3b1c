// switchboard pair-converter / converter-join: a second converter for a paired room, on another
// Switchboard server. The first names that server in both rooms' pair events (run against the hub),
// the second has that server's service user join both rooms (run against the second server).

import { usageError } from "./cli-errors.mjs";
import { adminCall } from "./cli-http.mjs";
import { fields, out, printJson } from "./cli-output.mjs";

async function pairConverter(ctx, roomId) {
  if (!ctx.options.user) throw usageError("--user <userId> is required: the room member who changes the pairing", "pair-converter");
  if (!ctx.options.server) throw usageError("--server <name> is required: the server whose converter to name", "pair-converter");
  const body = { user_id: ctx.options.user, server: ctx.options.server };
  // A 403 here is usually the auth rules refusing --user, not the token.
  const data = await adminCall(ctx, "POST", `/rooms/${encodeURIComponent(roomId)}/pair/converters`, body, { refusalMeansToken: false });
  if (ctx.options.json) return printJson(data);
  out(fields([["room", data.room_id], ["converters", data.converters.join(", ")]]));
}

async function converterJoin(ctx, roomId) {
  if (!ctx.options.via) throw usageError("--via <hub> is required: the LM room's hub", "converter-join");
  // A 403 here is the hub refusing the join, not the token.
  const data = await adminCall(ctx, "POST", `/rooms/${encodeURIComponent(roomId)}/converter/join`, { via: ctx.options.via }, { refusalMeansToken: false });
  if (ctx.options.json) return printJson(data);
  out(fields([["room", data.room_id], ["paired rooms joined", data.peer_room_ids.join(", ")]]));
}

export const converterCommands = {
  "pair-converter": {
    args: "<roomId> --user <userId> --server <name>",
    summary: "name another server's converter in a paired LM room's pairing (run against the hub)",
    help: `Adds --server to the converters named by the pair events of LM room <roomId> and of its paired
Matrix room, so that server's converter may carry events into the LM room too. The LM side's
pair event is sent as --user, a local member with the power to send it.

Options:
  --user <userId>   the local room member who changes the pairing
  --server <name>   the server whose converter to name`,
    options: { user: { type: "string" }, server: { type: "string" } },
    positionals: ["roomId"],
    run: pairConverter,
  },
  "converter-join": {
    args: "<roomId> --via <hub>",
    summary: "join this server's converter to a paired LM room and its Matrix room (run on the second server)",
    help: `This server's service user joins LM room <roomId> through its hub --via, and then every
Matrix room paired with it whose pairing names this server; from then on this server's converter
carries the Matrix room's events into the LM room. An invite-only room must invite the service
user (@_switchboard:<this server>) first.

Options:
  --via <hub>   the LM room's hub`,
    options: { via: { type: "string" } },
    positionals: ["roomId"],
    run: converterJoin,
  },
};
