// Request/answer messages between the orchestrator and the load-generator process (Node IPC).

import type { ChildProcess } from "node:child_process";

export interface CallMessage {
  id: number;
  method: string;
  params: unknown;
}

export type AnswerMessage = { id: number; result: unknown } | { id: number; error: string };

export interface ProgressMessage {
  progress: string;
}

export class LoadGenClient {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly child: ChildProcess,
    onProgress: (line: string) => void,
  ) {
    child.on("message", (m: AnswerMessage | ProgressMessage) => {
      if ("progress" in m) return onProgress(m.progress);
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if ("error" in m) p.reject(new Error(`load generator: ${m.error}`));
      else p.resolve(m.result);
    });
    child.on("exit", (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`load generator exited (${code})`));
      this.pending.clear();
    });
  }

  call<T>(method: string, params: unknown = {}): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, method, params } satisfies CallMessage);
    });
  }
}
