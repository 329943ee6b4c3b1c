// Miniflare options for test servers, from wrangler.toml and nothing else: wrangler also loads the
// developer's own secrets (.dev.vars, else .env, next to the config) into every set of options it
// builds, and says so in the output once per call. Test servers get only wrangler.toml's [vars] and
// the bindings each test passes explicitly.

import { join } from "node:path";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

export const WRANGLER_TOML = join(import.meta.dirname, "..", "..", "wrangler.toml");

/**
 * wrangler reads .dev.vars only when it is given no env files; this one is never created, so nothing
 * is read (a missing env file is skipped silently).
 */
const NO_LOCAL_SECRETS = join(import.meta.dirname, "no-local-secrets.env");

type Options = Parameters<typeof unstable_getMiniflareWorkerOptions>[2] & { envFiles?: string[] };

export function workerOptionsWithoutLocalSecrets(configPath = WRANGLER_TOML): ReturnType<typeof unstable_getMiniflareWorkerOptions>["workerOptions"] {
  // envFiles is in wrangler's implementation (its own dev server passes it) but not its declared types.
  const options: Options = { envFiles: [NO_LOCAL_SECRETS] };
  return unstable_getMiniflareWorkerOptions(configPath, undefined, options).workerOptions;
}
