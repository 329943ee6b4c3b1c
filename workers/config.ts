// Per-isolate view of the Worker's configuration. The signing key is parsed once per secret value.
// A missing or malformed setting answers every request with a Matrix error that names it and says
// how to set it (and logs that once), rather than a bare "Internal server error".

import { MatrixError } from "../shared/errors.js";
import { isServerName, type ServerName } from "../shared/ids.js";
import type { RoomVersion } from "../shared/room-version.js";
import { CREATABLE_ROOM_VERSION_IDS, DEFAULT_ROOM_VERSION, getRoomVersion } from "../shared/room-versions.js";
import type { SigningKey } from "../shared/signing-key.js";
import { parseSigningKeySecret } from "../shared/signing-key.js";

export interface Config {
  serverName: ServerName;
  signingKey: SigningKey;
  /** server name -> base URL; only these names may be reached over plain HTTP or on private addresses. */
  hostMap: ReadonlyMap<string, string>;
  /** Rooms created without a room_version get this one (DEFAULT_ROOM_VERSION; Linearized Matrix unless set). */
  defaultRoomVersion: RoomVersion;
}

let cached: { fingerprint: string; config: Promise<Config> } | undefined;
/** The configuration whose problem was last logged, so a broken deployment logs it once, not per request. */
let loggedFingerprint: string | undefined;

export function getConfig(env: Env): Promise<Config> {
  const fingerprint = `${env.SERVER_NAME}\n${env.SIGNING_KEY}\n${env.FEDERATION_HOST_MAP}\n${env.DEFAULT_ROOM_VERSION}`;
  if (cached?.fingerprint !== fingerprint) {
    const config = loadConfig(env);
    cached = { fingerprint, config };
    config.catch((err: unknown) => {
      if (cached?.config === config) cached = undefined;
      if (loggedFingerprint === fingerprint) return;
      loggedFingerprint = fingerprint;
      console.error(`[switchboard] ${err instanceof Error ? err.message : String(err)}`);
    });
  }
  return cached.config;
}

const KEYGEN_HELP =
  "Generate one with `npx switchboard keygen | npx wrangler secret put SIGNING_KEY` (deployed), or run `npm start`, which writes one to .dev.vars (local)";

/** A setting that keeps the server from answering anything: 500 M_UNKNOWN naming it. */
export function misconfigured(message: string): MatrixError {
  return new MatrixError(500, "M_UNKNOWN", `Server misconfigured: ${message}`);
}

async function loadConfig(env: Env): Promise<Config> {
  if (!isServerName(env.SERVER_NAME)) {
    throw misconfigured(`SERVER_NAME ${JSON.stringify(env.SERVER_NAME ?? "")} is not a valid server name. Set it in wrangler.toml [vars] (or SERVER_NAME for npm start)`);
  }
  if (!env.SIGNING_KEY || env.SIGNING_KEY.trim() === "") {
    throw misconfigured(`the SIGNING_KEY secret is not set, so this server cannot sign anything. ${KEYGEN_HELP}`);
  }
  let signingKey: SigningKey;
  try {
    signingKey = await parseSigningKeySecret(env.SIGNING_KEY);
  } catch (err) {
    // Base64 decoders may quote the offending character: say only which part is wrong, never the secret.
    const message = err instanceof Error ? err.message : "";
    const reason = /must look like|32 bytes|key version/i.test(message) ? message : "its seed is not valid base64";
    throw misconfigured(`the SIGNING_KEY secret is malformed (${reason}); it must be "ed25519:<key version>:<unpadded base64 of a 32-byte seed>". ${KEYGEN_HELP}`);
  }
  let hostMap: Map<string, string>;
  try {
    hostMap = parseHostMap(env.FEDERATION_HOST_MAP);
  } catch (err) {
    throw misconfigured(err instanceof Error ? err.message : String(err));
  }
  return { serverName: env.SERVER_NAME, signingKey, hostMap, defaultRoomVersion: defaultRoomVersion(env.DEFAULT_ROOM_VERSION) };
}

export function parseHostMap(raw: string | undefined): Map<string, string> {
  const map = new Map<string, string>();
  if (!raw || raw.trim() === "") return map;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error("FEDERATION_HOST_MAP must be a JSON object of server name -> base URL");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error("FEDERATION_HOST_MAP must be a JSON object of server name -> base URL");
  }
  for (const [name, url] of Object.entries(parsed)) {
    if (!isServerName(name) || typeof url !== "string" || !/^https?:\/\/[^/]+\/?$/.test(url)) {
      throw new Error(`FEDERATION_HOST_MAP entry ${name} -> ${String(url)} is not "server name": "http(s)://host[:port]"`);
    }
    map.set(name, url.replace(/\/$/, ""));
  }
  return map;
}

/** DEFAULT_ROOM_VERSION: empty for the built-in default, else a version rooms can be created in. */
export function defaultRoomVersion(raw: string | undefined): RoomVersion {
  const id = raw?.trim() ?? "";
  if (id === "") return DEFAULT_ROOM_VERSION;
  const version = getRoomVersion(id);
  if (!version || !CREATABLE_ROOM_VERSION_IDS.includes(id)) {
    throw misconfigured(`DEFAULT_ROOM_VERSION ${JSON.stringify(id)} is not a room version rooms can be created in (one of ${CREATABLE_ROOM_VERSION_IDS.join(", ")}, or empty)`);
  }
  return version;
}
