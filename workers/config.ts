// Per-isolate view of the Worker's configuration. The signing key is parsed once per secret value.

import { isServerName, type ServerName } from "../shared/ids.js";
import type { SigningKey } from "../shared/signing-key.js";
import { parseSigningKeySecret } from "../shared/signing-key.js";

export interface Config {
  serverName: ServerName;
  signingKey: SigningKey;
  /** server name -> base URL; only these names may be reached over plain HTTP or on private addresses. */
  hostMap: ReadonlyMap<string, string>;
}

let cached: { fingerprint: string; config: Promise<Config> } | undefined;

export function getConfig(env: Env): Promise<Config> {
  const fingerprint = `${env.SERVER_NAME}\n${env.SIGNING_KEY}\n${env.FEDERATION_HOST_MAP}`;
  if (cached?.fingerprint !== fingerprint) {
    cached = { fingerprint, config: loadConfig(env) };
    cached.config.catch(() => (cached = undefined));
  }
  return cached.config;
}

async function loadConfig(env: Env): Promise<Config> {
  if (!isServerName(env.SERVER_NAME)) throw new Error(`SERVER_NAME is not a valid server name: ${env.SERVER_NAME}`);
  if (!env.SIGNING_KEY) throw new Error("SIGNING_KEY secret is not set (see README: Configuration)");
  return {
    serverName: env.SERVER_NAME,
    signingKey: await parseSigningKeySecret(env.SIGNING_KEY),
    hostMap: parseHostMap(env.FEDERATION_HOST_MAP),
  };
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
