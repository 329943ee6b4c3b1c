// How MIMI identifier URIs map onto Matrix IDs here. -06 names users and clients by URI
// (IdentifierUri); this server writes `mimi://<domain>/u/<localpart>` for the user `@localpart:domain`
// and `mimi://<domain>/d/<localpart>/<device>` for one of the user's clients, and reads the same forms.

import { isDeviceId, isUserId, serverNameOf } from "./ids.js";

export function userUriOf(userId: string): string {
  const colon = userId.indexOf(":");
  return `mimi://${userId.slice(colon + 1)}/u/${encodeURIComponent(userId.slice(1, colon))}`;
}

export function clientUriOf(userId: string, deviceId: string): string {
  const colon = userId.indexOf(":");
  return `mimi://${userId.slice(colon + 1)}/d/${encodeURIComponent(userId.slice(1, colon))}/${encodeURIComponent(deviceId)}`;
}

/** The Matrix user a user URI names, or undefined when it is not this mapping's form. */
export function userIdOfUri(uri: string): string | undefined {
  const m = /^mimi:\/\/([^/]+)\/u\/([^/]+)$/.exec(uri);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  let localpart: string;
  try {
    localpart = decodeURIComponent(m[2]);
  } catch {
    return undefined;
  }
  const userId = `@${localpart}:${m[1]}`;
  return isUserId(userId) && serverNameOf(userId) === m[1] ? userId : undefined;
}

/** The user and device a client URI names. */
export function clientOfUri(uri: string): { userId: string; deviceId: string } | undefined {
  const m = /^mimi:\/\/([^/]+)\/d\/([^/]+)\/([^/]+)$/.exec(uri);
  if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) return undefined;
  try {
    const userId = `@${decodeURIComponent(m[2])}:${m[1]}`;
    const deviceId = decodeURIComponent(m[3]);
    return isUserId(userId) && isDeviceId(deviceId) ? { userId, deviceId } : undefined;
  } catch {
    return undefined;
  }
}
