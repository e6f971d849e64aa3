import { FormatRegistry, type Static, type TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { AppError } from './errors.ts';
import { BUS_JSON_LIMITS, findJsonProblem } from './json-guard.ts';

// TypeBox knows no string formats by itself; these are the ones the contracts use.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => UUID.test(v));
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)));
if (!FormatRegistry.Has('uri')) {
  FormatRegistry.Set('uri', (v) => {
    try {
      new URL(v);
      return true;
    } catch {
      return false;
    }
  });
}

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checkerFor<T extends TSchema>(schema: T): TypeCheck<T> {
  let check = compiled.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check as TypeCheck<T>;
}

/**
 * Returns `value` typed by `schema`, or throws `validation_failed` naming each
 * bad field. Used on both ends of every bus subject, so a message must also
 * keep the bus's JSON limits (nesting, and strings that can be stored: no
 * U+0000, control characters or lone surrogates), whatever its schema allows.
 */
export function validate<T extends TSchema>(schema: T, value: unknown, what: string): Static<T> {
  const problem = findJsonProblem(value, BUS_JSON_LIMITS);
  if (problem) throw new AppError('validation_failed', `invalid ${what}`, { details: [problem] });
  const check = checkerFor(schema);
  if (check.Check(value)) return value;
  const details = [...check.Errors(value)].slice(0, 10).map((e) => ({ field: e.path || '/', message: e.message }));
  throw new AppError('validation_failed', `invalid ${what}`, { details });
}
