// The demo's minimal Matrix client: one user on one server, speaking the client-server API.

import { randomBytes } from "node:crypto";
import { fail } from "./demo-output.mjs";

export class User {
  constructor(server, userId, token) {
    this.server = server;
    this.userId = userId;
    this.token = token;
    this.name = userId.slice(1, userId.indexOf(":"));
    this.txn = 0;
  }

  static async register(server, username) {
    const body = await call(server, "POST", "/register", null, { username, password: randomBytes(12).toString("base64url"), auth: { type: "m.login.dummy" } });
    return new User(server, body.user_id, body.access_token);
  }

  request(method, path, body) {
    return call(this.server, method, path, this.token, body);
  }

  async send(roomId, text) {
    const txn = `demo.${Date.now()}.${this.txn++}`;
    return (await this.request("PUT", `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txn}`, { msgtype: "m.text", body: text })).event_id;
  }

  async setState(roomId, type, content) {
    return (await this.request("PUT", `/rooms/${encodeURIComponent(roomId)}/state/${type}/`, content)).event_id;
  }

  /** Every timeline event this user's server holds for the room, oldest first (client API /messages). */
  async timeline(roomId) {
    const events = [];
    let from = "p0";
    for (;;) {
      const page = await this.request("GET", `/rooms/${encodeURIComponent(roomId)}/messages?dir=f&limit=500&from=${from}`);
      events.push(...page.chunk);
      if (page.chunk.length === 0 || !page.end || page.end === from) return events;
      from = page.end;
    }
  }
}

export async function call(server, method, path, token, body) {
  let res;
  try {
    res = await (server.fetch ?? fetch)(`${server.url}/_matrix/client/v3${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    fail(`${server.name} did not answer ${method} ${path}: ${err.cause?.code ?? err.message}`);
  }
  const json = await res.json().catch(() => ({}));
  if (!res.ok) fail(`${server.name}: ${method} ${path} → ${res.status} ${json.errcode ?? ""}: ${json.error ?? ""}`);
  return json;
}
