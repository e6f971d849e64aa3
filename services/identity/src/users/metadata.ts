import { AppError } from '@gatehouse/kit';

export type Metadata = Record<string, unknown>;

/**
 * The largest metadata object a user may carry, serialized as JSON. Metadata
 * rides along on every user read, so an unbounded blob would slow every
 * sign-in and fill the table.
 */
export const MAX_METADATA_BYTES = 16 * 1024;

/** Throws `validation_failed` when `metadata` serializes to more than MAX_METADATA_BYTES. */
export function checkMetadataSize(metadata: Metadata): void {
  const bytes = Buffer.byteLength(JSON.stringify(metadata), 'utf8');
  if (bytes > MAX_METADATA_BYTES) {
    throw new AppError('validation_failed', `metadata must be at most ${MAX_METADATA_BYTES} bytes of JSON`, {
      details: [{ field: '/metadata', message: `${bytes} bytes, the limit is ${MAX_METADATA_BYTES}` }],
    });
  }
}

/**
 * Shallow merge of `patch` into `current`: a key in the patch replaces the
 * stored value, a key set to null is removed, other keys stay. Throws
 * `validation_failed` when the result is too large.
 */
export function mergeMetadata(current: Metadata, patch: Metadata): Metadata {
  // A Map and Object.fromEntries define own properties, so a key named
  // "__proto__" stays plain data instead of changing the object's prototype.
  const entries = new Map(Object.entries(current));
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) entries.delete(key);
    else entries.set(key, value);
  }
  const merged = Object.fromEntries(entries);
  checkMetadataSize(merged);
  return merged;
}
