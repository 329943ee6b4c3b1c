// switchboard pair: pairs an LM room with a new Matrix v12 room through the converter's admin route.

import { usageError } from "./cli-errors.mjs";
import { adminCall } from "./cli-http.mjs";
import { fields, out, printJson } from "./cli-output.mjs";

async function pair(ctx, roomId) {
  if (!ctx.options.user) throw usageError("--user <userId> is required: the room member the pairing is made for", "pair");
  const body = { user_id: ctx.options.user, preset: ctx.options.public ? "public_chat" : "private_chat" };
  // A 403 here is usually the auth rules refusing --user, not the token.
  const data = await adminCall(ctx, "POST", `/rooms/${encodeURIComponent(roomId)}/pair`, body, { refusalMeansToken: false });
  if (ctx.options.json) return printJson(data);
  out(fields([["room", data.room_id], ["paired with", data.peer_room_id]]));
}

export const pairCommands = {
  pair: {
    args: "<roomId> --user <userId> [--public]",
    summary: "pair an LM room hosted here with a new Matrix v12 room",
    help: `Pairs an LM room this hub orders with a new Matrix room (version 12) created by the hub's
service user; the converter then carries messages, encrypted messages, MLS commits, name, topic and
membership between them (remote users appear as ghosts). The LM side's pair event is sent as
--user, a local member with the power to send it.

Options:
  --user <userId>  the local room member on whose behalf the pairing is made
  --public         make the Matrix room joinable by anyone (default: invite only)`,
    options: { user: { type: "string" }, public: { type: "boolean" } },
    positionals: ["roomId"],
    run: pair,
  },
};
