import type { FastifyBaseLogger } from 'fastify';

type Bindings = Record<string, unknown>;
type LogFn = (...args: unknown[]) => void;

/**
 * A request logger that becomes a real pino child only when something is
 * logged. Fastify makes a child logger for every request; with redaction that
 * costs a few per cent of a fast route, paid on requests that log nothing.
 */
class LazyChildLogger {
  readonly #parent: FastifyBaseLogger;
  readonly #bindings: Bindings;
  #real: FastifyBaseLogger | undefined;

  constructor(parent: FastifyBaseLogger, bindings: Bindings) {
    this.#parent = parent;
    this.#bindings = bindings;
  }

  #get(): FastifyBaseLogger {
    this.#real ??= this.#parent.child(this.#bindings);
    return this.#real;
  }

  get level(): string {
    return this.#real?.level ?? this.#parent.level;
  }

  set level(level: string) {
    this.#get().level = level;
  }

  isLevelEnabled(level: string): boolean {
    return (this.#parent as unknown as { isLevelEnabled(l: string): boolean }).isLevelEnabled(level);
  }

  fatal(...args: unknown[]): void {
    (this.#get().fatal as LogFn)(...args);
  }
  error(...args: unknown[]): void {
    (this.#get().error as LogFn)(...args);
  }
  warn(...args: unknown[]): void {
    (this.#get().warn as LogFn)(...args);
  }
  info(...args: unknown[]): void {
    (this.#get().info as LogFn)(...args);
  }
  debug(...args: unknown[]): void {
    (this.#get().debug as LogFn)(...args);
  }
  trace(...args: unknown[]): void {
    (this.#get().trace as LogFn)(...args);
  }
  silent(): void {}

  child(bindings: Bindings): FastifyBaseLogger {
    return this.#get().child(bindings);
  }
}

/** Fastify's `childLoggerFactory`, lazily. */
export function lazyChildLogger(logger: FastifyBaseLogger, bindings: Bindings): FastifyBaseLogger {
  return new LazyChildLogger(logger, bindings) as unknown as FastifyBaseLogger;
}
