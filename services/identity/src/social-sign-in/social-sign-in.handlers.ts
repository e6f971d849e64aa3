import type { Bus } from '@gatehouse/kit';
import type { SocialSignIn } from './social-sign-in.ts';

/** Serves `identity.oauth.*`: the providers, a flow's start and callback, the exchange, the link token. */
export function registerSocialSignInHandlers(bus: Bus, social: SocialSignIn): void {
  bus.serve('identity.oauth.providers', async () => ({ providers: social.list() }));

  bus.serve('identity.oauth.start', async (m) =>
    social.start({
      projectId: m.project_id,
      provider: m.provider,
      redirectTo: m.redirect_to,
      binding: m.binding,
      ...(m.auth_mode ? { authMode: m.auth_mode } : {}),
      ...(m.link_token ? { linkToken: m.link_token } : {}),
    }),
  );

  bus.serve('identity.oauth.callback', async (m, ctx) =>
    social.callback({
      ...(m.project_id !== undefined ? { projectId: m.project_id } : {}),
      provider: m.provider,
      binding: m.binding,
      params: m.params,
      who: { ip: m.ip, userAgent: m.user_agent },
      ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
    }),
  );

  bus.serve('identity.oauth.exchange', async (m) => ({ user: await social.exchange(m.project_id, m.code) }));

  bus.serve('identity.oauth.link', async (m) => ({
    link_token: await social.linkToken(m.project_id, m.user_id, m.provider, m.redirect_to),
  }));
}
