import { ProjectPatchBody, ProjectSettings } from '@gatehouse/contracts';
import { AppError, type Config, isAppError, validate } from '@gatehouse/kit';
import type { Static, TSchema } from '@sinclair/typebox';

/** The instance's lifetimes, which a project's may shorten, never lengthen. */
export type SettingsLimits = Pick<Config, 'accessTokenTtl' | 'refreshTokenTtl'>;

/** A settings change: the keys it names replace the stored ones; a key given as null is removed. */
const SettingsPatch = ProjectPatchBody.properties.settings;
export type SettingsPatch = Record<string, unknown>;

/** Hosts where `http:` is allowed (development); anywhere else a redirect target must be `https:`. */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

const invalid = (field: string, message: string) =>
  new AppError('validation_failed', `settings.${field} ${message}`, {
    details: [{ field: `settings.${field}`, message }],
  });

/** Validates `value` against `schema`, naming bad fields as the HTTP API does (`settings.access_token_ttl`). */
function checkedShape<T extends TSchema>(schema: T, value: unknown): Static<T> {
  try {
    return validate(schema, value, 'settings');
  } catch (err) {
    if (!isAppError(err, 'validation_failed')) throw err;
    const details = (err.details ?? []).map((d) => {
      const { field, message } = d as { field: string; message: string };
      return { field: `settings${field === '/' ? '' : field.replaceAll('/', '.')}`, message };
    });
    const first = details[0];
    throw new AppError('validation_failed', first ? `${first.field}: ${first.message}` : 'invalid settings', {
      details,
    });
  }
}

/**
 * Why `entry` cannot be a redirect allow-list entry, or null when it can: an
 * absolute `https:` URL (`http:` on loopback only), an origin or an origin
 * with a path prefix, as REDIRECT_ALLOWLIST takes them; no credentials, query
 * or fragment, which an allow-list entry could not mean.
 */
function redirectEntryProblem(entry: string): string | null {
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    return 'must be an https: URL (http: on localhost only)';
  }
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  if (url.search !== '' || url.hash !== '' || entry.includes('?') || entry.includes('#')) {
    return 'must be an origin or an origin and a path, without a query or a fragment';
  }
  return null;
}

/**
 * `settings` checked: the ProjectSettings shape (no unknown key, known
 * sign-in methods), lifetimes within the instance's, redirect entries
 * absolute http(s) URLs. Throws `validation_failed` naming the field.
 */
export function checkedSettings(settings: unknown, limits: SettingsLimits): ProjectSettings {
  const value = checkedShape(ProjectSettings, settings);
  if (value.access_token_ttl !== undefined && value.access_token_ttl > limits.accessTokenTtl) {
    throw invalid('access_token_ttl', `must be at most ${limits.accessTokenTtl} (the instance's ACCESS_TOKEN_TTL)`);
  }
  if (value.refresh_token_ttl !== undefined && value.refresh_token_ttl > limits.refreshTokenTtl) {
    throw invalid('refresh_token_ttl', `must be at most ${limits.refreshTokenTtl} (the instance's REFRESH_TOKEN_TTL)`);
  }
  for (const [i, entry] of (value.redirect_allowlist ?? []).entries()) {
    const problem = redirectEntryProblem(entry);
    if (problem) throw invalid(`redirect_allowlist.${i}`, problem);
  }
  return value;
}

/**
 * `current` with `patch` applied (shallowly: a key in the patch replaces the
 * stored value, a key given as null is removed, the others stay). The patch is
 * checked as `checkedSettings` checks new settings; stored values it does not
 * touch are kept as they are. Throws `validation_failed` naming the field.
 */
export function mergedSettings(
  current: ProjectSettings,
  patch: SettingsPatch,
  limits: SettingsLimits,
): ProjectSettings {
  checkedShape(SettingsPatch, patch);
  const given = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== null));
  checkedSettings(given, limits);
  // A Map and Object.fromEntries define own properties: a key named "__proto__" stays data.
  const entries = new Map<string, unknown>(Object.entries(current));
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) entries.delete(key);
    else entries.set(key, value);
  }
  return Object.fromEntries(entries) as ProjectSettings;
}
