import type { Bus } from '@gatehouse/kit';
import type { KeyService } from './keys.service.ts';

/** Serves the JWKS: the public signing keys, during a rotation the old and the new. */
export function registerKeyHandlers(bus: Bus, keys: KeyService): void {
  bus.serve('session.jwks.get', async (m) => ({ keys: await keys.jwks(m.kid) }));
}
