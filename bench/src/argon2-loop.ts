import { hash } from '@node-rs/argon2';

/** Hashes as fast as `concurrency` parallel workers can for `seconds`: the raw argon2id rate. */
export async function argon2Rate(
  params: { memoryCost: number; timeCost: number; parallelism: number },
  seconds: number,
  concurrency: number,
): Promise<{ rps: number; p50: number; p99: number; count: number }> {
  const end = Date.now() + seconds * 1000;
  const latencies: number[] = [];
  const worker = async () => {
    while (Date.now() < end) {
      const t = performance.now();
      // @node-rs/argon2 hashes with Argon2id by default (its Algorithm enum is a const enum).
      await hash('correct horse battery', params);
      latencies.push(performance.now() - t);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), count: latencies.length };
}
