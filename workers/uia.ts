// User-interactive authentication for the endpoints that need the user to prove it is them again
// (deleting devices, replacing cross-signing keys): one flow with one stage, m.login.password. The
// stage completes in the request that carries it, so sessions are handed out but never stored: a
// session proves nothing by itself, the password does.

import { encodeBase64Url } from "../shared/base64.js";
import { badJson, forbidden, limitExceeded, MatrixError } from "../shared/errors.js";
import { isUserId } from "../shared/ids.js";
import { verifyPassword } from "../shared/password-hash.js";
import { json } from "./http.js";
import { getUser } from "./storage/users.js";

const PASSWORD = "m.login.password";
const FLOWS = [{ stages: [PASSWORD] }];
/** Password guesses through UIA share the per-account budget's shape with login. */
const UIA_PER_ACCOUNT = { capacity: 5, refillPerSecond: 1 / 60 };

function challenge(session: string, error?: MatrixError): Response {
  const body: Record<string, unknown> = { flows: FLOWS, params: {}, session };
  if (error) Object.assign(body, { errcode: error.errcode, error: error.message });
  return json(body, 401);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The user an m.login.password stage names (identifier.user or the older top-level user). */
function namedUser(auth: Record<string, unknown>, serverName: string): string | undefined {
  const identifier = auth["identifier"];
  const raw = isObject(identifier) ? identifier["user"] : auth["user"];
  if (typeof raw !== "string") return undefined;
  return raw.startsWith("@") ? raw : `@${raw.toLowerCase()}:${serverName}`;
}

/**
 * Checks `body.auth` for user `userId`. Returns the 401 challenge to answer with (no auth yet, or a
 * wrong password), or undefined when the stage is complete and the request may go ahead.
 */
export async function passwordUia(env: Env, serverName: string, userId: string, body: Record<string, unknown>): Promise<Response | undefined> {
  const auth = body["auth"];
  const newSession = () => encodeBase64Url(crypto.getRandomValues(new Uint8Array(16)));
  if (auth === undefined || auth === null) return challenge(newSession());
  if (!isObject(auth)) throw badJson("auth must be an object");
  const session = typeof auth["session"] === "string" && auth["session"].length <= 100 ? auth["session"] : newSession();
  if (auth["type"] !== PASSWORD) return challenge(session, new MatrixError(400, "M_UNRECOGNIZED", `Only ${PASSWORD} is offered`));
  const password = auth["password"];
  if (typeof password !== "string") throw badJson("auth.password must be a string");
  const named = namedUser(auth, serverName);
  // The stage authenticates the caller again: naming anyone else fails like a wrong password.
  if (named !== undefined && (!isUserId(named) || named !== userId)) return challenge(session, forbidden("Invalid username or password"));
  const limiter = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`uia:user:${userId}`));
  const verdict = await limiter.take(`uia:user:${userId}`, UIA_PER_ACCOUNT.capacity, UIA_PER_ACCOUNT.refillPerSecond);
  if (!verdict.ok) throw limitExceeded(verdict.retryAfterMs);
  const row = await getUser(env.DB, userId);
  if (!row?.passwordHash || !(await verifyPassword(password, row.passwordHash))) return challenge(session, forbidden("Invalid username or password"));
  return undefined;
}
