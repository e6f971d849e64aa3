import type { Logger } from 'pino';

type Closer = () => Promise<unknown> | unknown;

/**
 * Graceful shutdown: on SIGTERM or SIGINT, runs the registered closers in
 * reverse order (stop accepting work first, close connections last), then
 * exits. A second signal, or 10 s without finishing, exits at once.
 */
export class Shutdown {
  readonly #closers: { name: string; close: Closer }[] = [];
  readonly #log: Logger;
  #stopping = false;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Registers a closer; the last registered runs first. */
  add(name: string, close: Closer): void {
    this.#closers.push({ name, close });
  }

  /** Installs the signal handlers. */
  listen(): void {
    const onSignal = (signal: string) => {
      if (this.#stopping) process.exit(1);
      this.#log.info({ signal }, 'shutting down');
      setTimeout(() => process.exit(1), 10_000).unref();
      void this.run().then(() => process.exit(0));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  /** Runs every closer once, newest first; errors are logged, not thrown. */
  async run(): Promise<void> {
    this.#stopping = true;
    for (const { name, close } of this.#closers.reverse()) {
      try {
        await close();
      } catch (err) {
        this.#log.warn({ err, name }, 'error while closing');
      }
    }
    this.#closers.length = 0;
  }
}
