// The room versions this server advertises are the ones it can create and join: /capabilities
// lists exactly what createRoom accepts, and make_join asks a remote hub only for versions a
// room hosted elsewhere can be joined in.

import { C, call, enc, register } from "./client-helpers.js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import { noWellKnown, stubFetch } from "./fake-remote.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("advertised room versions", () => {
  it("/capabilities lists exactly the versions createRoom accepts (LM, 11 and 12), the default among them", async () => {
    const { token } = await register("versions");
    const caps = (await call("GET", `${C}/capabilities`, token)).json["capabilities"] as Record<string, { default: string; available: Record<string, string> }>;
    const { default: def, available } = caps["m.room_versions"] as { default: string; available: Record<string, string> };
    expect(Object.keys(available)).toContain(def);
    expect(Object.keys(available).sort()).toEqual([LM_ROOM_VERSION_ID, "11", "12"].sort());
    expect(def).toBe(LM_ROOM_VERSION_ID);
    for (const version of Object.keys(available)) {
      const created = await call("POST", `${C}/createRoom`, token, { room_version: version });
      expect([version, created.status]).toEqual([version, 200]);
      const create = await call("GET", `${C}/rooms/${enc(created.json["room_id"] as string)}/state/m.room.create/`, token);
      expect(create.json["room_version"]).toBe(version);
    }
    const v13 = await call("POST", `${C}/createRoom`, token, { room_version: "13" });
    expect([v13.status, v13.json["errcode"]]).toEqual([400, "M_UNSUPPORTED_ROOM_VERSION"]);
  });

  it("asks a remote server's make_join for every version a room hosted elsewhere can be joined in (LM, 11, 12)", async () => {
    const { token } = await register("remotejoin");
    const f = stubFetch(noWellKnown, (req) =>
      req.url.includes("/make_join/") ? new Response(JSON.stringify({ errcode: "M_NOT_FOUND", error: "no such room" }), { status: 404, headers: { "content-type": "application/json" } }) : undefined,
    );
    const res = await call("POST", `${C}/join/${enc("!far:hub.remote.example")}`, token, {});
    expect(res.status).toBe(404);
    const make = f.requests.find((r) => r.url.includes("/make_join/"));
    expect(make && new URL(make.url).searchParams.getAll("ver")).toEqual([LM_ROOM_VERSION_ID, "11", "12"]);
  });
});
