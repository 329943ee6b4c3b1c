// When a destination queue tries again: after a failed send it backs off, doubling from
// FEDERATION_RETRY_BASE_MS to FEDERATION_RETRY_MAX_MS; a receiver that answers 429 M_LIMIT_EXCEEDED
// (a hub whose fan-out is behind, or an origin over its rate) is not failing, so the queue waits the
// retry_after_ms it asked for and sends the same transaction again, without counting a failure.

type RetryEnv = Pick<Env, "FEDERATION_RETRY_BASE_MS" | "FEDERATION_RETRY_MAX_MS">;

function bounds(env: RetryEnv): { base: number; max: number } {
  return { base: Number(env.FEDERATION_RETRY_BASE_MS ?? "") || 1_000, max: Number(env.FEDERATION_RETRY_MAX_MS ?? "") || 10 * 60 * 1000 };
}

/** The wait before attempt `failures` + 1. */
export function retryDelay(env: RetryEnv, failures: number): number {
  const { base, max } = bounds(env);
  return Math.min(max, base * 2 ** Math.min(failures - 1, 20));
}

/** For a 429 M_LIMIT_EXCEEDED answer, the wait it asks for (at most the longest backoff); otherwise undefined. */
export function pushBackDelay(env: RetryEnv, status: number, body: unknown): number | undefined {
  if (status !== 429) return undefined;
  const b = (typeof body === "object" && body !== null ? body : {}) as { errcode?: unknown; retry_after_ms?: unknown };
  if (b.errcode !== "M_LIMIT_EXCEEDED") return undefined;
  const { base, max } = bounds(env);
  const ms = typeof b.retry_after_ms === "number" && Number.isFinite(b.retry_after_ms) && b.retry_after_ms >= 0 ? b.retry_after_ms : base;
  return Math.min(max, Math.ceil(ms));
}
