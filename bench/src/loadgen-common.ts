// Small helpers shared by the load generator's workloads: timing, URL encoding, progress lines to the orchestrator.



export const enc = encodeURIComponent;
export const now = (): number => performance.now();
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function progress(line: string): void {
  process.send?.({ progress: line });
}
