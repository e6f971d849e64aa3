import addressparser from 'nodemailer/lib/addressparser';

/**
 * Why `to` may not be mailed, or null when it may: it must be exactly one
 * plain address as nodemailer itself reads the field (its own address
 * parser), equal to the given string. A list (`a@x, b@y`, `zz,qq@x`), a group,
 * a display name or comment, a quoted local part (`"look"@x`, which nodemailer
 * sends to `look@x`) or anything the parser rewrites would otherwise reach a
 * mailbox other than the one the job names. Identity only queues canonical
 * addresses; this keeps a mail that slipped through, or an old queued job,
 * from going astray. The reason never repeats the address.
 */
export function recipientProblem(to: string): string | null {
  if (to === '' || to.trim() !== to) return 'the recipient is empty or has surrounding white space';
  const parsed = addressparser(to);
  if (parsed.length !== 1) return `the recipient field holds ${parsed.length} entries, not one address`;
  const [entry] = parsed;
  if (!entry || 'group' in entry) return 'the recipient field is a group, not one address';
  if (entry.name !== '') return 'the recipient field has a display name or comment';
  if (entry.address !== to) return 'the recipient field is not one plain address';
  const at = to.indexOf('@');
  if (at <= 0 || at !== to.lastIndexOf('@') || at === to.length - 1) return 'the recipient is not local@domain';
  return null;
}
