// The room's single writer as a value. Only `WriterSection.run` makes a `Writer`, and every method
// that changes the room takes one, so "runs inside the exclusive section" is checked by the compiler
// rather than promised in a comment.

export class Writer {
  /** Nominal: a plain object never passes for a Writer. */
  readonly #writer = true;
  private constructor() {}

  /** A section of one writer at a time; each room object owns exactly one. */
  static section(): WriterSection {
    return new WriterSection(() => new Writer());
  }

  /** Reads the brand so it counts as used; a Writer carries no other state. */
  get held(): boolean {
    return this.#writer;
  }
}

export class WriterSection {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly mint: () => Writer) {}

  /** Runs `fn` after every earlier call has finished, handing it the writer token. */
  run<T>(fn: (w: Writer) => Promise<T>): Promise<T> {
    const go = (): Promise<T> => fn(this.mint());
    const next = this.chain.then(go, go);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
