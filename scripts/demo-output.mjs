// Output of `npm run demo`: timestamped progress lines, and the one error type it reports without a stack.

const t0 = Date.now();

export const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`.padStart(6);
export const say = (msg) => process.stdout.write(`[${elapsed()}] ${msg}\n`);
export const print = (msg = "") => process.stdout.write(`${msg}\n`);

export class DemoError extends Error {}
export const fail = (msg) => {
  throw new DemoError(msg);
};
