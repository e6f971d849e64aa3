import type { Bus } from '@gatehouse/kit';
import type { MagicLink } from './magic-link.ts';

/** Serves `identity.magic_link.send` and `identity.magic_link.verify`. */
export function registerMagicLinkHandlers(bus: Bus, magicLink: MagicLink): void {
  bus.serve('identity.magic_link.send', async (m, ctx) => {
    await magicLink.send(m.project_id, m.email, m.redirect_to, ctx.requestId);
    return {};
  });

  bus.serve('identity.magic_link.verify', async (m, ctx) => {
    const { user, created, sessionIds } = await magicLink.verify(m.project_id, m.token, ctx.requestId);
    return { user, created, session_ids: sessionIds };
  });
}
