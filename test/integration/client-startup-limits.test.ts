// The default rate limits against a real client's start-up: a user with 100 rooms logs in on a new
// device and starts the way Element X does (its settings reads, a full sync, then a room-list
// thumbnail per room, all at once), and gets no 429. (Element X syncs with sliding sync; /sync stands
// in.) That floods still get 429 is test/federation/rate-limit-floods.test.ts: a test here can only
// have a few requests in flight at once, too few to outrun the refill on a loaded machine.

import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { pngImage } from "../support/media-images.js";
import { C, enc } from "./client-helpers.js";

const ROOMS = 100;

interface Answer {
  status: number;
  json: Record<string, unknown>;
  retryAfter: string | null;
}

async function req(method: string, path: string, token?: string, body?: BodyInit, contentType = "application/json"): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token) headers["authorization"] = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = contentType;
  const res = await exports.default.fetch(new Request(`https://hub.test${path}`, { method, headers, body }));
  const type = res.headers.get("content-type") ?? "";
  const json = type.startsWith("application/json") ? ((await res.json()) as Record<string, unknown>) : (await res.arrayBuffer(), {});
  return { status: res.status, json, retryAfter: res.headers.get("retry-after") };
}

/** Setup only: waits out a 429 and tries again, so building 100 rooms is not itself the test. */
async function patiently(method: string, path: string, token: string, body?: BodyInit, contentType?: string): Promise<Record<string, unknown>> {
  for (;;) {
    const a = await req(method, path, token, body, contentType);
    if (a.status === 429) {
      await new Promise((r) => setTimeout(r, Number(a.json["retry_after_ms"])));
      continue;
    }
    if (a.status !== 200) throw new Error(`${method} ${path}: ${a.status} ${JSON.stringify(a.json)}`);
    return a.json;
  }
}

let n = 0;
async function registerUser(stem: string): Promise<{ userId: string; token: string; username: string }> {
  const username = `${stem}${++n}${Date.now().toString(36)}`;
  const r = await req("POST", `${C}/register`, undefined, JSON.stringify({ username, password: "pw-pw-pw-pw", auth: { type: "m.login.dummy" } }));
  return { userId: r.json["user_id"] as string, token: r.json["access_token"] as string, username };
}

describe("default rate limits and a client's start-up", () => {
  it("lets a user with 100 rooms start up on a new device, a thumbnail per room, with no 429", { timeout: 240_000 }, async () => {
    const user = await registerUser("startup");
    const friend = await registerUser("avatars");
    // 100 rooms, each with its own avatar image (uploaded by a friend, as avatars usually are).
    const avatars: string[] = [];
    for (let i = 0; i < ROOMS; i++) {
      const up = await patiently("POST", `/_matrix/media/v3/upload?filename=avatar${i}.png`, friend.token, pngImage(64 + (i % 5), 64), "image/png");
      avatars.push(up["content_uri"] as string);
    }
    for (let i = 0; i < ROOMS; i++) {
      await patiently("POST", `${C}/createRoom`, user.token, JSON.stringify({ name: `Room ${i}`, initial_state: [{ type: "m.room.avatar", state_key: "", content: { url: avatars[i] } }] }));
    }

    // Start-up, on a fresh login: everything the client asks for, counted.
    const answers: Array<{ what: string; a: Answer }> = [];
    const note = (what: string, a: Answer) => (answers.push({ what, a }), a);
    const login = note("login", await req("POST", `${C}/login`, undefined, JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: user.username }, password: "pw-pw-pw-pw", initial_device_display_name: "Element X" })));
    const token = login.json["access_token"] as string;
    const settings = await Promise.all(
      [`/_matrix/client/versions`, `${C}/account/whoami`, `${C}/capabilities`, `${C}/pushrules/`, `${C}/profile/${enc(user.userId)}`, `/_matrix/client/v1/media/config`].map(async (p) => note(p, await req("GET", p, token))),
    );
    expect(settings.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const sync = note("sync", await req("GET", `${C}/sync?timeout=0`, token));
    type Ev = { type: string; content: { url?: string } };
    const joined = (sync.json["rooms"] as { join: Record<string, { state: { events: Ev[] }; timeline: { events: Ev[] } }> }).join;
    const roomAvatars = Object.values(joined).map((r) => [...r.state.events, ...r.timeline.events].find((e) => e.type === "m.room.avatar")?.content.url as string);
    expect(roomAvatars.every((u) => typeof u === "string")).toBe(true);
    expect(roomAvatars.length).toBe(ROOMS);
    // The room list draws every visible avatar at once.
    const thumbs = await Promise.all(roomAvatars.map(async (mxc) => note(`thumbnail ${mxc}`, await req("GET", `/_matrix/client/v1/media/thumbnail/${mxc.slice(6)}?width=96&height=96&method=crop`, token))));
    expect(thumbs.every((t) => t.status === 200)).toBe(true);
    note("sync again", await req("GET", `${C}/sync?timeout=0&since=${enc(sync.json["next_batch"] as string)}`, token));
    // Opening a room: its messages and members.
    const first = Object.keys(joined)[0] as string;
    note("messages", await req("GET", `${C}/rooms/${enc(first)}/messages?dir=b&limit=20`, token));
    note("members", await req("GET", `${C}/rooms/${enc(first)}/members`, token));

    const limited = answers.filter(({ a }) => a.status === 429).map(({ what }) => what);
    expect(limited).toEqual([]);
    expect(answers.length).toBeGreaterThan(ROOMS + 8);
  });
});
