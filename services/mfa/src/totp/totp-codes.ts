import { generateSecret, generateURI, verify } from 'otplib';

/** RFC 6238 as every authenticator app reads it by default: HMAC-SHA-1, 6 digits, 30 s steps. */
const ALGORITHM = 'sha1';
const DIGITS = 6;
const PERIOD = 30;
/** Codes of one step before or after now are accepted (RFC 6238 §5.2: allow for clock drift). */
const DRIFT_STEPS = 1;

export const TOTP_ISSUER = 'Gatehouse';

/** A new TOTP secret: 160 random bits (RFC 4226 §4 recommends 160), base32. */
export const newTotpSecret = (): string => generateSecret({ length: 20 });

/**
 * The `otpauth://totp/...` URL an authenticator app scans (Google's Key Uri
 * Format). otplib leaves out parameters at their defaults; they are written
 * out anyway, so an app with other defaults still computes the same codes.
 */
export function otpauthUrl(secret: string, accountName: string): string {
  const uri = generateURI({
    issuer: TOTP_ISSUER,
    label: accountName,
    secret,
    algorithm: ALGORITHM,
    digits: DIGITS,
    period: PERIOD,
  });
  const explicit = { algorithm: ALGORITHM.toUpperCase(), digits: String(DIGITS), period: String(PERIOD) };
  const present = new URLSearchParams(uri.slice(uri.indexOf('?') + 1));
  const missing = Object.entries(explicit).filter(([name]) => !present.has(name));
  return missing.length === 0 ? uri : `${uri}&${missing.map(([name, value]) => `${name}=${value}`).join('&')}`;
}

/** A typed TOTP code without its spaces, or null when it is not 6 digits. */
export function normalizeTotpCode(typed: string): string | null {
  const code = typed.replace(/\s/g, '');
  return /^\d{6}$/.test(code) ? code : null;
}

/**
 * The time step at which `code` is valid for `secret` at `now`, within one
 * step of drift, skipping every step up to `lastUsedStep` (a code of a step
 * already accepted is a replay). Null when it matches no allowed step.
 */
export async function matchTotp(
  secret: string,
  code: string,
  now: Date,
  lastUsedStep: number | null,
): Promise<number | null> {
  const epoch = Math.floor(now.getTime() / 1000);
  const newest = Math.floor(epoch / PERIOD) + DRIFT_STEPS;
  // otplib refuses an `afterTimeStep` beyond the newest step it would try; then every step is a replay.
  if (lastUsedStep !== null && lastUsedStep >= newest) return null;
  const result = await verify({
    secret,
    token: code,
    algorithm: ALGORITHM,
    digits: DIGITS,
    period: PERIOD,
    epoch,
    epochTolerance: DRIFT_STEPS * PERIOD,
    ...(lastUsedStep !== null ? { afterTimeStep: lastUsedStep } : {}),
  });
  return result.valid ? Math.floor(epoch / PERIOD) + result.delta : null;
}
