import type { Bus } from '@gatehouse/kit';
import type { EmailVerification } from '../email-verification/email-verification.ts';
import type { UsersService } from './users.service.ts';

/**
 * Serves the `identity.user.*` and `identity.guest.*` subjects, and the
 * step-up `identity.password.verify` (the other `identity.password.*` are in
 * passwords/). The bus has already validated each request against its
 * contract schema; these only translate between the wire's snake_case and the
 * service. Sign-up mails the first verification link.
 */
export function registerUserHandlers(bus: Bus, users: UsersService, verification: EmailVerification): void {
  bus.serve('identity.user.register', async (m, ctx) => {
    const user = await users.register({
      projectId: m.project_id,
      email: m.email,
      password: m.password,
      ...(m.name !== undefined ? { name: m.name } : {}),
      ...(m.metadata !== undefined ? { metadata: m.metadata } : {}),
    });
    try {
      await verification.send(user, m.redirect_to, ctx.requestId);
    } catch (err) {
      // The account exists: failing the sign-up now would make its retry an `email_taken`.
      // The user can ask again with POST /auth/email/resend.
      ctx.log.error({ err, userId: user.id }, 'could not queue the verification email');
    }
    return { user };
  });

  bus.serve('identity.user.authenticate', async (m) => ({
    user: await users.authenticate({ projectId: m.project_id, email: m.email, password: m.password }),
  }));

  bus.serve('identity.user.get', async (m) => ({ user: await users.get(m.project_id, m.user_id) }));

  bus.serve('identity.password.verify', async (m) => {
    await users.verifyPassword(m.project_id, m.user_id, m.password);
    return {};
  });

  bus.serve('identity.user.find', async (m) => ({ user: await users.findByEmail(m.project_id, m.email) }));

  bus.serve('identity.user.set_mfa', async (m) => ({
    user: await users.setMfa(m.project_id, m.user_id, m.mfa_enabled),
  }));

  bus.serve('identity.user.update', async (m) => ({
    user: await users.update({
      projectId: m.project_id,
      userId: m.user_id,
      ...(m.name !== undefined ? { name: m.name } : {}),
      ...(m.avatar_url !== undefined ? { avatarUrl: m.avatar_url } : {}),
      ...(m.metadata !== undefined ? { metadata: m.metadata } : {}),
    }),
  }));

  bus.serve('identity.user.delete', async (m) => {
    await users.delete({
      projectId: m.project_id,
      userId: m.user_id,
      ...(m.password !== undefined ? { password: m.password } : {}),
      freshSignIn: m.fresh_sign_in,
    });
    return {};
  });

  bus.serve('identity.guest.create', async (m) => ({
    user: await users.createGuest({ projectId: m.project_id, ...(m.name !== undefined ? { name: m.name } : {}) }),
  }));

  bus.serve('identity.guest.convert', async (m) => ({
    user: await users.convertGuest({
      projectId: m.project_id,
      userId: m.user_id,
      email: m.email,
      password: m.password,
      ...(m.name !== undefined ? { name: m.name } : {}),
    }),
  }));
}
