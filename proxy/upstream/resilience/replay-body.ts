// A request body that can be sent more than once, for retries. The first try streams the
// downstream body as it arrives (nothing waits for the whole body), and every chunk read
// is kept until `limit` bytes; a retry replays the kept chunks and then carries on with
// the live body. Past the limit the copy is dropped and the body cannot be replayed any
// more: a retry then would send a truncated body, so none is made (Envoy's rule).

import { Readable } from 'node:stream';

export class ReplayBody {
  #source: Readable;
  #limit: number;
  #kept: Buffer[] | null = [];
  #keptBytes = 0;
  #ended = false;
  #error: Error | null = null;
  /** The Readable the current try reads; only one try reads at a time. */
  #current: TryBody | null = null;

  constructor(source: Readable, limit: number) {
    this.#source = source;
    this.#limit = limit;
    source.on('readable', () => this.#current?.pull());
    source.once('end', () => {
      this.#ended = true;
      this.#current?.pull();
    });
    source.once('error', (err: Error) => {
      this.#error = err;
      this.#current?.destroy(err);
    });
  }

  /** False once more than `limit` bytes went by: the body can no longer be sent again. */
  get replayable(): boolean {
    return this.#kept !== null;
  }

  /** A fresh stream for one try; the previous try's stream is detached. */
  stream(): Readable {
    this.#current?.detach();
    const body = new TryBody(this);
    this.#current = body;
    return body;
  }

  /** Chunk `index` for a try: a kept one, a new one from the source, or null (wait) / undefined (end). */
  chunk(index: number): Buffer | null | undefined {
    if (this.#error !== null) throw this.#error;
    if (this.#kept !== null && index < this.#kept.length) return this.#kept[index];
    const chunk = this.#source.read() as Buffer | null;
    if (chunk === null) return this.#ended || this.#source.readableEnded ? undefined : null;
    if (this.#kept !== null) {
      this.#keptBytes += chunk.length;
      if (this.#keptBytes > this.#limit) this.#kept = null;
      else this.#kept.push(chunk);
    }
    return chunk;
  }

  release(body: TryBody): void {
    if (this.#current === body) this.#current = null;
  }
}

class TryBody extends Readable {
  #owner: ReplayBody | null;
  #index = 0;
  #wanted = false;

  constructor(owner: ReplayBody) {
    super();
    this.#owner = owner;
  }

  override _read(): void {
    this.#wanted = true;
    this.pull();
  }

  /** Pushes chunks while the reader wants them and the source has them. */
  pull(): void {
    const owner = this.#owner;
    while (this.#wanted && owner !== null) {
      let chunk: Buffer | null | undefined;
      try {
        chunk = owner.chunk(this.#index);
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
      if (chunk === null) return;
      if (chunk === undefined) {
        this.#wanted = false;
        this.push(null);
        return;
      }
      this.#index++;
      this.#wanted = this.push(chunk);
    }
  }

  /** A later try took over: this one stops reading from the shared source. */
  detach(): void {
    this.#owner = null;
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#owner?.release(this);
    this.#owner = null;
    cb(err);
  }
}
