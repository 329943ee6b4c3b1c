// The MIMI directory (MIMI -06 §5.1): GET /.well-known/mimi-protocol-directory answers JSON naming
// each endpoint's URL template. It is the one JSON document of the protocol.
//
// Defects of -06 read tolerantly (docs/mimi.md): "update{roomId}" lacks its slash; the example omits
// the colon after "proxyDownload"; requestConsent/updateConsent are keyed by user in the directory
// but by domain in §5.7. We serve the §5.7 domain form and expand whichever placeholder a peer's
// template names, as long as the caller supplies it.

export const MIMI_DIRECTORY_PATH = "/.well-known/mimi-protocol-directory";
/** Where this server's MIMI endpoints live; the directory is what peers read, not this constant. */
export const MIMI_PATH_PREFIX = "/mimi/v1";

/** Each endpoint and the placeholder this server's own templates use. */
export const MIMI_ENDPOINT_PARAMS = {
  keyMaterial: "targetUser",
  update: "roomId",
  notify: "roomId",
  submitMessage: "roomId",
  groupInfo: "roomId",
  requestConsent: "targetDomain",
  updateConsent: "requesterDomain",
  identifierQuery: "domain",
  reportAbuse: "roomId",
  proxyDownload: "downloadUrl",
} as const;
export type MimiEndpoint = keyof typeof MIMI_ENDPOINT_PARAMS;
export const MIMI_ENDPOINTS = Object.keys(MIMI_ENDPOINT_PARAMS) as MimiEndpoint[];

/** What a hub needs from a follower's directory and a follower from a hub's. */
const REQUIRED: readonly MimiEndpoint[] = ["keyMaterial", "update", "notify", "submitMessage", "groupInfo"];

export type MimiDirectory = { [E in MimiEndpoint]?: string } & { [E in (typeof REQUIRED)[number]]: string };

/** This server's directory, for `origin` such as "https://hub.example" (no trailing slash). */
export function mimiDirectory(origin: string): MimiDirectory {
  const out: Record<string, string> = {};
  for (const e of MIMI_ENDPOINTS) out[e] = `${origin}${MIMI_PATH_PREFIX}/${e}/{${MIMI_ENDPOINT_PARAMS[e]}}`;
  return out as MimiDirectory;
}

export type DirectoryParse = { ok: true; directory: MimiDirectory } | { ok: false; reason: string };

/** `"name" "value"` with the colon missing, as -06 prints proxyDownload. Applied only if strict JSON fails. */
function repairMissingColons(text: string): string {
  return text.replace(/("[A-Za-z]+")(\s+)(")/g, "$1:$2$3");
}

/** "…/update{roomId}" -> "…/update/{roomId}": a placeholder closing a path segment of its own. */
function normaliseTemplate(t: string): string {
  return t.replace(/([^/])(\{[A-Za-z]+\})$/, "$1/$2");
}

export function parseMimiDirectory(text: string): DirectoryParse {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    try {
      json = JSON.parse(repairMissingColons(text));
    } catch {
      return { ok: false, reason: "not JSON" };
    }
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return { ok: false, reason: "not a JSON object" };
  const out: Record<string, string> = {};
  for (const e of MIMI_ENDPOINTS) {
    const v = (json as Record<string, unknown>)[e];
    if (v === undefined) continue;
    if (typeof v !== "string") return { ok: false, reason: `${e} is not a string` };
    const t = normaliseTemplate(v);
    if (!/\{[A-Za-z]+\}/.test(t)) return { ok: false, reason: `${e} has no {placeholder}` };
    let url: URL;
    try {
      url = new URL(t.replace(/\{[A-Za-z]+\}/g, "x"));
    } catch {
      return { ok: false, reason: `${e} is not a URL template` };
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") return { ok: false, reason: `${e} is not an HTTP(S) URL` };
    out[e] = t;
  }
  const missing = REQUIRED.filter((e) => out[e] === undefined);
  if (missing.length > 0) return { ok: false, reason: `missing ${missing.join(", ")}` };
  return { ok: true, directory: out as MimiDirectory };
}

/**
 * Fills a template's placeholders from `vars` (percent-encoded). A consent template may name the user
 * or the domain form; pass both (e.g. targetUser and targetDomain) and the one it names is used.
 */
export function expandMimiTemplate(template: string, vars: Readonly<Record<string, string>>): string | undefined {
  let missing = false;
  const url = template.replace(/\{([A-Za-z]+)\}/g, (_, name: string) => {
    const v = vars[name];
    if (v === undefined) {
      missing = true;
      return "";
    }
    return encodeURIComponent(v);
  });
  return missing ? undefined : url;
}

/** Routes one of this server's own MIMI paths: the endpoint and its decoded path parameter. */
export function matchMimiPath(pathname: string): { endpoint: MimiEndpoint; param: string } | undefined {
  if (!pathname.startsWith(`${MIMI_PATH_PREFIX}/`)) return undefined;
  const rest = pathname.slice(MIMI_PATH_PREFIX.length + 1);
  const slash = rest.indexOf("/");
  if (slash <= 0) return undefined;
  const name = rest.slice(0, slash);
  const raw = rest.slice(slash + 1);
  if (!(name in MIMI_ENDPOINT_PARAMS) || raw === "" || raw.includes("/")) return undefined;
  try {
    return { endpoint: name as MimiEndpoint, param: decodeURIComponent(raw) };
  } catch {
    return undefined;
  }
}
