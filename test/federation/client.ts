// A tiny Matrix client for tests: just enough of the client-server API to drive rooms.

import type { TestServer } from "./harness.js";

export class MatrixApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: { errcode?: string; error?: string },
    what: string,
  ) {
    super(`${what}: ${status} ${body.errcode ?? ""} ${body.error ?? ""}`);
  }
}

export interface ClientEventJson {
  event_id: string;
  type: string;
  sender: string;
  state_key?: string;
  content: Record<string, unknown>;
  origin_server_ts: number;
}

export class TestClient {
  constructor(
    readonly server: TestServer,
    readonly userId: string,
    readonly accessToken: string,
  ) {}

  static async register(server: TestServer, username: string, password = "correct horse battery"): Promise<TestClient> {
    const res = await server.fetch("/_matrix/client/v3/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, password, auth: { type: "m.login.dummy" } }),
    });
    const body = (await res.json()) as { user_id: string; access_token: string; errcode?: string; error?: string };
    if (res.status !== 200) throw new MatrixApiError(res.status, body, `register ${username}`);
    return new TestClient(server, body.user_id, body.access_token);
  }

  async request<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.server.fetch(`/_matrix/client/v3${path}`, {
      method,
      headers: { authorization: `Bearer ${this.accessToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as T & { errcode?: string; error?: string };
    if (res.status !== 200) throw new MatrixApiError(res.status, json, `${method} ${path}`);
    return json;
  }

  createRoom(body: Record<string, unknown> = {}): Promise<{ room_id: string }> {
    return this.request("POST", "/createRoom", body);
  }

  join(roomId: string, via?: string): Promise<{ room_id: string }> {
    const q = via ? `?server_name=${encodeURIComponent(via)}` : "";
    return this.request("POST", `/join/${encodeURIComponent(roomId)}${q}`, {});
  }

  invite(roomId: string, userId: string): Promise<unknown> {
    return this.request("POST", `/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: userId });
  }

  leave(roomId: string): Promise<unknown> {
    return this.request("POST", `/rooms/${encodeURIComponent(roomId)}/leave`, {});
  }

  kick(roomId: string, userId: string, reason?: string): Promise<unknown> {
    return this.request("POST", `/rooms/${encodeURIComponent(roomId)}/kick`, { user_id: userId, reason });
  }

  ban(roomId: string, userId: string): Promise<unknown> {
    return this.request("POST", `/rooms/${encodeURIComponent(roomId)}/ban`, { user_id: userId });
  }

  unban(roomId: string, userId: string): Promise<unknown> {
    return this.request("POST", `/rooms/${encodeURIComponent(roomId)}/unban`, { user_id: userId });
  }

  knock(roomId: string, via?: string): Promise<unknown> {
    const q = via ? `?server_name=${encodeURIComponent(via)}` : "";
    return this.request("POST", `/knock/${encodeURIComponent(roomId)}${q}`, {});
  }

  private txn = 0;
  async send(roomId: string, body: string): Promise<string> {
    const txnId = `t${Date.now()}.${this.txn++}`;
    const r = await this.request<{ event_id: string }>("PUT", `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txnId}`, { msgtype: "m.text", body });
    return r.event_id;
  }

  async setState(roomId: string, type: string, stateKey: string, content: Record<string, unknown>): Promise<string> {
    const r = await this.request<{ event_id: string }>("PUT", `/rooms/${encodeURIComponent(roomId)}/state/${type}/${encodeURIComponent(stateKey)}`, content);
    return r.event_id;
  }

  /** Every timeline event this server holds for the room, oldest first. */
  async timeline(roomId: string): Promise<ClientEventJson[]> {
    const out: ClientEventJson[] = [];
    let from: string | undefined = "p0";
    for (;;) {
      const page: { chunk: ClientEventJson[]; end?: string } = await this.request(
        "GET",
        `/rooms/${encodeURIComponent(roomId)}/messages?dir=f&limit=500${from ? `&from=${from}` : ""}`,
      );
      out.push(...page.chunk);
      if (page.chunk.length === 0 || !page.end || page.end === from) return out;
      from = page.end;
    }
  }
}

/** Polls until `check` returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
}

export interface StoredPdu {
  pos: number;
  event_id: string;
  pdu: Record<string, unknown> & { type: string; sender: string; prev_events: string[]; content: Record<string, unknown> };
}

/** Every event a server stored for a room, in its timeline order (admin API). */
export async function storedEvents(server: TestServer, roomId: string): Promise<StoredPdu[]> {
  const out: StoredPdu[] = [];
  let from = 0;
  for (;;) {
    const res = await server.fetch(`/_switchboard/admin/v1/rooms/${encodeURIComponent(roomId)}/events?from=${from}&limit=1000`, {
      headers: { authorization: "Bearer test-admin-token" },
    });
    if (res.status === 404) return out;
    const body = (await res.json()) as { events: StoredPdu[] };
    if (res.status !== 200) throw new Error(`admin events on ${server.name}: ${res.status} ${JSON.stringify(body)}`);
    out.push(...body.events);
    if (body.events.length < 1000) return out;
    from = (body.events[body.events.length - 1] as StoredPdu).pos;
  }
}
