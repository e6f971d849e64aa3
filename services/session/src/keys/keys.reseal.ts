import { isSealedUnderPrimary, type KeyRing, seal, sealedKeyId, unseal } from '@gatehouse/kit';
import { signingKeyContext } from './keys.service.ts';
import type { SigningKeyStore } from './keys.store.ts';

/** What re-sealing one signing key came to. */
export interface ResealedKey {
  kid: string;
  /**
   * `resealed`: now under the primary key; `current`: it already was;
   * `failed`: it does not open with any key of the ring (left as it is);
   * `changed`: it changed or went away meanwhile (run again).
   */
  outcome: 'resealed' | 'current' | 'failed' | 'changed';
  /** The id of the key it was sealed under before (null: the v1 format, which names none). */
  from: string | null;
  error?: string;
}

/**
 * Re-seals every stored signing key that is not sealed under the ring's
 * primary key (SECRET_KEY), so that SECRET_KEY_PREVIOUS can be emptied. Each
 * replacement is a compare-and-set; running replicas pick the new sealed
 * value up on their next reload (the key and its kid stay the same).
 */
export async function resealSigningKeys(store: SigningKeyStore, ring: KeyRing): Promise<ResealedKey[]> {
  const done: ResealedKey[] = [];
  for (const key of await store.listKeys()) {
    const from = sealedKeyId(key.sealed_private);
    if (isSealedUnderPrimary(ring, key.sealed_private)) {
      done.push({ kid: key.kid, outcome: 'current', from });
      continue;
    }
    const context = signingKeyContext(key.kid);
    let plain: string;
    try {
      plain = unseal(ring, key.sealed_private, context);
    } catch (err) {
      done.push({ kid: key.kid, outcome: 'failed', from, error: err instanceof Error ? err.message : String(err) });
      continue;
    }
    const replaced = await store.resealKey(key.kid, key.sealed_private, seal(ring, plain, context));
    done.push({ kid: key.kid, outcome: replaced ? 'resealed' : 'changed', from });
  }
  return done;
}
