/**
 * What every JSON value Gatehouse accepts must satisfy, whatever its schema
 * says: bounded nesting and size, and strings (keys included) that can be
 * stored and compared. Postgres refuses U+0000 and lone surrogates (a 500 if
 * they reach it), deep values crash the embedded database and overflow
 * `JSON.stringify`, and control characters have no place in a name or a key.
 * The gateway applies the edge limits to every request body; the bus applies
 * its own to every message, so no service depends on the gateway for it.
 */
export interface JsonLimits {
  /** The deepest an object or array may sit: the body itself is depth 0. */
  maxDepth: number;
  /** Members of one object (or items of one array). */
  maxKeys: number;
  /** Values in the whole document (objects, arrays, strings, numbers...). */
  maxNodes: number;
}

/** A request body: metadata may nest 15 levels below the body, with 256 keys each, 4,096 values in all. */
export const EDGE_JSON_LIMITS: JsonLimits = { maxDepth: 16, maxKeys: 256, maxNodes: 4096 };
/**
 * A bus message: the same depth, with room for the envelope (a user record in a
 * reply sits two levels down); no count limits, since lists such as the
 * revocation list are as long as they are.
 */
export const BUS_JSON_LIMITS: JsonLimits = {
  maxDepth: 24,
  maxKeys: Number.POSITIVE_INFINITY,
  maxNodes: Number.POSITIVE_INFINITY,
};

export interface JsonProblem {
  /** The dotted path of the bad value (or key), as validation errors name fields. */
  field: string;
  message: string;
}

/** C0 controls except tab, line feed and carriage return; DEL; C1 controls. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;

interface WellFormed {
  isWellFormed(): boolean;
}

/** Why `s` cannot be accepted, or undefined when it can. */
export function stringProblem(s: string): string | undefined {
  const control = CONTROL.exec(s);
  if (control) {
    const point = control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    return `holds a control character (U+${point})`;
  }
  if (!(s as unknown as WellFormed).isWellFormed()) return 'holds a lone surrogate (not valid Unicode)';
  return undefined;
}

/** A path segment fit to be echoed in an error body: its bad characters replaced, its length bounded. */
function segment(key: string): string {
  const shown = key.length > 64 ? `${key.slice(0, 64)}…` : key;
  return (shown as unknown as { toWellFormed(): string })
    .toWellFormed()
    .replace(new RegExp(CONTROL.source, 'g'), '\uFFFD');
}

interface Entry {
  value: unknown;
  key: string | undefined;
  parent: Entry | undefined;
  depth: number;
}

/** The dotted path of `entry`, built only when a problem is reported. */
function pathOf(entry: Entry): string {
  const keys: string[] = [];
  for (let e: Entry | undefined = entry; e?.key !== undefined; e = e.parent) keys.push(segment(e.key));
  return keys.reverse().join('.') || '/';
}

/**
 * The first thing in `value` that breaks `limits` or holds a string that
 * cannot be accepted, or undefined. Iterative and stopped at the first
 * problem, so a hostile value costs at most its own size.
 */
export function findJsonProblem(value: unknown, limits: JsonLimits): JsonProblem | undefined {
  const stack: Entry[] = [{ value, key: undefined, parent: undefined, depth: 0 }];
  let nodes = 0;
  while (stack.length > 0) {
    const entry = stack.pop()!;
    const { value: v, depth } = entry;
    if (++nodes > limits.maxNodes)
      return { field: pathOf(entry), message: `the body holds more than ${limits.maxNodes} values` };
    if (typeof v === 'string') {
      const problem = stringProblem(v);
      if (problem) return { field: pathOf(entry), message: problem };
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= limits.maxDepth)
      return { field: pathOf(entry), message: `is nested deeper than ${limits.maxDepth} levels` };
    if (Array.isArray(v)) {
      if (v.length > limits.maxKeys)
        return { field: pathOf(entry), message: `holds more than ${limits.maxKeys} items` };
      for (let i = v.length - 1; i >= 0; i--)
        stack.push({ value: v[i], key: String(i), parent: entry, depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(v);
    if (keys.length > limits.maxKeys)
      return { field: pathOf(entry), message: `holds more than ${limits.maxKeys} keys` };
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      const child: Entry = { value: (v as Record<string, unknown>)[key], key, parent: entry, depth: depth + 1 };
      const problem = stringProblem(key);
      if (problem) return { field: pathOf(child), message: `its name ${problem}` };
      stack.push(child);
    }
  }
  return undefined;
}
