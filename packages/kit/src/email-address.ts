import { domainToASCII, domainToUnicode } from 'node:url';
import { AppError } from './errors.ts';

/**
 * Email addresses as Gatehouse accepts and stores them: one address that a
 * mail library delivers to exactly one mailbox, in one canonical form, so two
 * spellings of one mailbox can never be two accounts and a mail never goes to
 * an address other than the one stored.
 *
 * Accepted: `local@domain` after trimming white space, where
 * - the local part is a dot-atom (RFC 5322 atext: letters, digits and
 *   ``!#$%&'*+-/=?^_`{|}~``, plus non-ASCII letters, marks and decimal digits for
 *   SMTPUTF8 mailboxes), at most 64 octets: no quoted string, comma, backslash,
 *   space, comment or leading, trailing or doubled dot;
 * - the domain is a host name of at least two labels (no IP literal, no
 *   numeric top-level label), each LDH and 1 to 63 octets in its ASCII form,
 *   at most 253 octets; an internationalised domain may come in Unicode or as
 *   punycode (`xn--`);
 * - nowhere a control, format or other invisible character (U+200B, U+FEFF,
 *   bidi controls, soft hyphen...), a private-use or unassigned code point;
 * - at most 254 octets in all (with the ASCII domain).
 *
 * The canonical form is NFC, lower case, with the domain as its Unicode
 * labels (UTS 46 processing, as `url.domainToUnicode` gives them): the NFC
 * and NFD spellings, any case, and the Unicode and punycode spellings of one
 * domain all give the same string. Unicode rather than `xn--` labels because
 * that is how addresses were stored before (trimmed and lower-cased only), so
 * an existing account on an internationalised domain keeps matching; the
 * mail library converts the domain to punycode on the wire. Normalising a
 * canonical address again returns it unchanged.
 */
export type EmailAddressResult =
  | {
      ok: true;
      /** The canonical form: what is stored, compared and mailed. */
      address: string;
      /** The domain's ASCII (punycode) form, for SMTP without SMTPUTF8 or DNS. */
      asciiDomain: string;
    }
  | {
      ok: false;
      /** Why, in words that never repeat the input (safe to log or to answer). */
      reason: string;
    };

/** Longer input is refused before any Unicode processing. */
const MAX_INPUT_LENGTH = 1024;
const MAX_LOCAL_OCTETS = 64;
const MAX_DOMAIN_OCTETS = 253;
const MAX_ADDRESS_OCTETS = 254;

/** Anything invisible or unprintable: controls, format characters, surrogates, private use, unassigned, ignorables. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Default_Ignorable_Code_Point}]/u;
/** Spaces, tabs and line breaks, trimmed at the ends (not U+FEFF or U+0085, which String#trim or White_Space include). */
const EDGE_SPACE = /^[\t\n\v\f\r\p{Zs}]+|[\t\n\v\f\r\p{Zs}]+$/gu;
/** One atom of a dot-atom local part: atext, or non-ASCII letters, marks and decimal digits; never starting with a mark. */
const LOCAL_ATOM = /^(?!\p{M})(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|(?!\p{ASCII})[\p{L}\p{M}\p{Nd}])+$/u;
/**
 * The characters a domain may be written with before UTS 46 processing: ASCII
 * letters, digits, hyphens and dots, the ideographic full stops UTS 46 reads
 * as dots, and non-ASCII letters, marks and numbers. Notably not `%` (the URL
 * host parser would percent-decode it), `[`, `]`, `:`, `_` or symbols.
 */
const DOMAIN_INPUT = /^(?:[a-z0-9.-]|[\u3002\uff0e\uff61]|(?!\p{ASCII})[\p{L}\p{M}\p{N}])+$/u;
/** A label of the domain's canonical Unicode form: LDH, or non-ASCII letters, marks and digits. */
const UNICODE_LABEL = /^(?:[a-z0-9-]|(?!\p{ASCII})[\p{L}\p{M}\p{Nd}])+$/u;
/** An LDH label of the ASCII form. */
const ASCII_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const octets = (s: string): number => Buffer.byteLength(s, 'utf8');
const fail = (reason: string): EmailAddressResult => ({ ok: false, reason });

/** Lower case and NFC, whichever way the case mapping composes. */
const foldCase = (s: string): string => s.normalize('NFC').toLowerCase().normalize('NFC');

/** Parses `input` as one address (see EmailAddressResult for the rules and the canonical form). */
export function parseEmailAddress(input: unknown): EmailAddressResult {
  if (typeof input !== 'string') return fail('must be a string');
  if (input.length > MAX_INPUT_LENGTH) return fail('is too long');
  const trimmed = input.replace(EDGE_SPACE, '');
  if (INVISIBLE.test(trimmed)) return fail('must not contain control or invisible characters');
  const text = foldCase(trimmed);
  const at = text.indexOf('@');
  if (at < 0 || at !== text.lastIndexOf('@')) return fail('must be one address with exactly one @');
  const local = text.slice(0, at);
  const rawDomain = text.slice(at + 1);

  if (local === '') return fail('must have a name before the @');
  if (local.split('.').some((atom) => !LOCAL_ATOM.test(atom))) {
    return fail('must have a plain name before the @: no quotes, commas, spaces, backslashes or stray dots');
  }
  if (octets(local) > MAX_LOCAL_OCTETS) return fail('has more than 64 octets before the @');

  if (rawDomain === '') return fail('must have a domain after the @');
  if (rawDomain.startsWith('[')) return fail('must have a host name after the @, not an IP address');
  if (!DOMAIN_INPUT.test(rawDomain)) return fail('must have a valid domain after the @');
  const asciiDomain = domainToASCII(rawDomain);
  if (asciiDomain === '') return fail('must have a valid domain after the @');
  const labels = asciiDomain.split('.');
  if (labels.length < 2) return fail('must have a domain with at least one dot');
  if (labels.some((label) => !ASCII_LABEL.test(label))) return fail('must have a valid domain after the @');
  // A numeric last label is an IPv4 address (the URL parser has already rewritten `127.1` as one).
  if (/^[0-9]+$/.test(labels.at(-1) ?? '')) return fail('must have a host name after the @, not an IP address');
  if (asciiDomain.length > MAX_DOMAIN_OCTETS) return fail('has a domain longer than 253 octets');

  const domain = domainToUnicode(asciiDomain).normalize('NFC');
  // One form only: the Unicode labels must lead back to the same ASCII ones,
  // be lower case (as stored) and hold nothing invisible or unusual.
  if (
    domainToASCII(domain) !== asciiDomain ||
    domain !== domain.toLowerCase() ||
    INVISIBLE.test(domain) ||
    domain.split('.').some((label) => !UNICODE_LABEL.test(label))
  ) {
    return fail('must have a valid domain after the @');
  }
  if (octets(local) + 1 + asciiDomain.length > MAX_ADDRESS_OCTETS) return fail('is longer than 254 octets');
  return { ok: true, address: `${local}@${domain}`, asciiDomain };
}

/** The canonical form of `input`, or null when it is not one acceptable address. */
export function normalizeEmail(input: string): string | null {
  const result = parseEmailAddress(input);
  return result.ok ? result.address : null;
}

/**
 * The canonical form of `input`, or throws AppError `validation_failed` with
 * details `[{ field, message }]` (the message never repeats the input).
 */
export function requireEmail(input: string, field = 'email'): string {
  const result = parseEmailAddress(input);
  if (result.ok) return result.address;
  throw new AppError('validation_failed', 'invalid email address', {
    details: [{ field, message: result.reason }],
  });
}

/**
 * The key an address is counted and looked up by where any input must have
 * one (rate limits, passkey stand-ins): its canonical form, so every spelling
 * of one mailbox shares it, or, for input no account can have, its trimmed
 * lower case.
 */
export function addressKey(email: string): string {
  return normalizeEmail(email) ?? email.trim().toLowerCase();
}
