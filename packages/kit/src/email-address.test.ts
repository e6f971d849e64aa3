import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normalizeEmail, parseEmailAddress, requireEmail } from './email-address.ts';
import { AppError } from './errors.ts';

const NFC = '\u00e9look@example.com'; // é as one code point
const NFD = 'e\u0301look@example.com'; // e + combining acute

describe('normalizeEmail', () => {
  test('accepts ordinary addresses: plus tags, subdomains, digits, hyphens, dots, atext', () => {
    for (const address of [
      'look@example.com',
      'a@b.co',
      'first.last+tag@mail.sub.example.co.uk',
      'user-1_2@my-host9.example.com',
      '123@456.example',
      "o'brien@example.com",
      "!#$%&'*+/=?^_`{|}~-@example.com",
      `${'x'.repeat(64)}@example.com`,
    ]) {
      assert.equal(normalizeEmail(address), address, address);
    }
  });

  test('trims white space and lower-cases the whole address', () => {
    assert.equal(normalizeEmail('  Look.Here+Tag@Mail.EXAMPLE.com\n'), 'look.here+tag@mail.example.com');
    assert.equal(normalizeEmail('\u00a0look@example.com\u3000'), 'look@example.com');
  });

  test('refuses a quoted local part, which delivers to the unquoted mailbox', () => {
    assert.equal(normalizeEmail('"look"@example.com'), null);
    assert.equal(normalizeEmail('"lo ok"@example.com'), null);
    assert.equal(normalizeEmail('"a@b"@example.com'), null);
  });

  test('refuses a comma, a semicolon, a display name, a comment or a group: more (or other) than one address', () => {
    for (const input of [
      'zz,qq@example.com',
      'zz@example.com,qq@example.com',
      'a@example.com;b@example.com',
      'Look <look@example.com>',
      '<look@example.com>',
      'look@example.com (me)',
      '(me)look@example.com',
      'group: look@example.com;',
      'look@example.com, ',
    ]) {
      assert.equal(normalizeEmail(input), null, input);
    }
  });

  test('refuses a backslash, a space, stray dots and a missing or doubled @', () => {
    for (const input of [
      'lo\\ok@example.com',
      'lo ok@example.com',
      '.look@example.com',
      'look.@example.com',
      'lo..ok@example.com',
      'look@@example.com',
      'look@example@example.com',
      'look',
      '@example.com',
      'look@',
      '',
      '   ',
    ]) {
      assert.equal(normalizeEmail(input), null, JSON.stringify(input));
    }
  });

  test('refuses control and invisible characters anywhere, even at the ends', () => {
    for (const ch of [
      '\u200b',
      '\u200c',
      '\u200d',
      '\u2060',
      '\ufeff',
      '\u00ad',
      '\u202e',
      '\u2066',
      '\u0000',
      '\u0007',
      '\u007f',
      '\u0085',
      '\u034f',
      '\u3164',
      '\ufe0f',
    ]) {
      const hex = ch.codePointAt(0)?.toString(16);
      assert.equal(normalizeEmail(`lo${ch}ok@example.com`), null, `U+${hex} in the local part`);
      assert.equal(normalizeEmail(`look@exa${ch}mple.com`), null, `U+${hex} in the domain`);
      assert.equal(normalizeEmail(`${ch}look@example.com`), null, `U+${hex} first`);
      assert.equal(normalizeEmail(`look@example.com${ch}`), null, `U+${hex} last`);
    }
    assert.equal(normalizeEmail('look\ud800@example.com'), null, 'a lone surrogate');
    assert.equal(normalizeEmail('look\ue000@example.com'), null, 'private use');
  });

  test('gives the NFC and NFD forms of one address the same canonical (NFC) form', () => {
    assert.notEqual(NFC, NFD);
    assert.equal(normalizeEmail(NFC), NFC);
    assert.equal(normalizeEmail(NFD), NFC);
    assert.equal(normalizeEmail(NFD.toUpperCase()), NFC);
  });

  test('gives the Unicode and punycode forms of a domain one form, Unicode labels in NFC', () => {
    const canonical = '\u00fcn\u00efcode@b\u00fccher.example';
    assert.equal(normalizeEmail(canonical), canonical);
    assert.equal(normalizeEmail('\u00fcn\u00efcode@xn--bcher-kva.example'), canonical);
    assert.equal(normalizeEmail('u\u0308ni\u0308code@bu\u0308cher.example'), canonical, 'NFD');
    assert.equal(normalizeEmail('U\u0308NI\u0308CODE@BU\u0308CHER.example'), canonical, 'NFD, upper case');
    assert.equal(normalizeEmail('\u00dcN\u00cfCODE@XN--BCHER-KVA.EXAMPLE'), canonical);
    // UTS 46 mappings: full-width letters and ideographic full stops are the ASCII ones.
    assert.equal(normalizeEmail('look@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com'), 'look@example.com');
    assert.equal(normalizeEmail('look@example\u3002com'), 'look@example.com');
    const parsed = parseEmailAddress('\u00fcn\u00efcode@B\u00dcCHER.example');
    assert.deepEqual(parsed, { ok: true, address: canonical, asciiDomain: 'xn--bcher-kva.example' });
  });

  test('is idempotent: a canonical address normalises to itself', () => {
    for (const input of [
      NFD,
      '\u00fcn\u00efcode@xn--bcher-kva.example',
      ' A+b@Example.COM ',
      'Stra\u00dfe@stra\u00dfe.de',
    ]) {
      const once = normalizeEmail(input);
      assert.ok(once, input);
      assert.equal(normalizeEmail(once), once, input);
    }
  });

  test('refuses IP literals, numeric hosts, single labels and non-LDH or malformed domains', () => {
    for (const input of [
      'look@[127.0.0.1]',
      'look@[IPv6:::1]',
      'look@127.0.0.1',
      'look@127.1',
      'look@0x7f.1',
      'look@localhost',
      'look@example.com.',
      'look@exa_mple.com',
      'look@-example.com',
      'look@example-.com',
      'look@exa..mple.com',
      'look@exa%6dple.com',
      'look@exa/mple.com',
      'look@xn--zz.example',
      'look@xn--ls8h.la', // a symbol (emoji) label
      `look@${'a'.repeat(64)}.com`,
    ]) {
      assert.equal(normalizeEmail(input), null, input);
    }
    assert.equal(normalizeEmail(`look@${'a'.repeat(63)}.com`), `look@${'a'.repeat(63)}.com`);
  });

  test('counts the limits in octets: 64 before the @, 253 for the domain, 254 in all', () => {
    assert.equal(normalizeEmail(`${'x'.repeat(65)}@example.com`), null);
    assert.equal(normalizeEmail(`${'\u00e9'.repeat(32)}@example.com`), `${'\u00e9'.repeat(32)}@example.com`);
    assert.equal(normalizeEmail(`${'\u00e9'.repeat(33)}@example.com`), null, '66 octets');
    const label = 'a'.repeat(63);
    const domain253 = `${label}.${label}.${label}.${'a'.repeat(61)}`;
    assert.equal(domain253.length, 253);
    assert.equal(normalizeEmail(`x@${domain253}`), null, '255 in all');
    const domain252 = `${label}.${label}.${label}.${'a'.repeat(60)}`;
    assert.equal(normalizeEmail(`x@${domain252}`), `x@${domain252}`, '254 in all');
    assert.equal(normalizeEmail(`${'x'.repeat(2000)}@example.com`), null);
  });

  test('accepts non-ASCII letters, marks and digits in the local part, but not a leading mark or symbols', () => {
    assert.equal(normalizeEmail('\u7528\u6237@example.com'), '\u7528\u6237@example.com');
    assert.equal(normalizeEmail('\u0434\u0436\u043e@example.com'), '\u0434\u0436\u043e@example.com');
    assert.equal(normalizeEmail('\u0301look@example.com'), null, 'a combining mark first');
    assert.equal(normalizeEmail('look.\u0301x@example.com'), null, 'a combining mark after a dot');
    assert.equal(normalizeEmail('\u2603@example.com'), null, 'a symbol');
    assert.equal(normalizeEmail('look\u00a0x@example.com'), null, 'a no-break space inside');
  });
});

describe('parseEmailAddress and requireEmail', () => {
  test('parseEmailAddress gives a reason that does not repeat the input', () => {
    const result = parseEmailAddress('"secret-name"@example.com');
    assert.equal(result.ok, false);
    assert.ok(!result.ok && !result.reason.includes('secret'), !result.ok ? result.reason : '');
    assert.deepEqual(parseEmailAddress(42), { ok: false, reason: 'must be a string' });
  });

  test('requireEmail returns the canonical form or throws validation_failed naming the field', () => {
    assert.equal(requireEmail(NFD), NFC);
    assert.throws(
      () => requireEmail('zz,qq@example.com'),
      (err) =>
        err instanceof AppError &&
        err.code === 'validation_failed' &&
        Array.isArray(err.details) &&
        (err.details[0] as { field: string }).field === 'email',
    );
    assert.throws(
      () => requireEmail('look\u200b@example.com', 'invitee'),
      (err) => err instanceof AppError && (err.details?.[0] as { field?: string } | undefined)?.field === 'invitee',
    );
  });
});
