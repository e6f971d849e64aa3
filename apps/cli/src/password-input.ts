import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

/**
 * Reads a secret from standard input, so that it never sits in the shell's
 * history or the process list: the first line when stdin is piped
 * (`printf '%s\n' "$PW" | pnpm gatehouse admin create a@b.c`), else a prompt
 * that does not echo what is typed. Rejects when stdin ends with nothing.
 */
export async function readSecret(
  prompt: string,
  input: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => void } = process.stdin,
  output: Writable = process.stderr,
): Promise<string> {
  if (!input.isTTY) {
    const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      lines.close();
      return line;
    }
    throw new Error('no password on standard input');
  }
  output.write(prompt);
  // A terminal: raw mode, nothing echoed, one line.
  return new Promise((resolve, reject) => {
    let typed = '';
    input.setRawMode?.(true);
    input.resume();
    const done = (err?: Error) => {
      input.setRawMode?.(false);
      input.pause();
      input.off('data', onData);
      output.write('\n');
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    input.on('data', onData);
  });
}
