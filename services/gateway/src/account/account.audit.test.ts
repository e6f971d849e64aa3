// What the account and admin routes record in the audit log (the stand-in gateway's recording
// sink): API keys, the password, an admin's changes with the admin as actor, and never a secret.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { type AuditEvent, DEFAULT_PROJECT_ID } from '@gatehouse/contracts';
import { AppError, newApiKey } from '@gatehouse/kit';
import { type StandInGateway, userRecord, withGateway } from '../app.test-support.ts';

const CLIENT = { ip: '198.51.100.23', user_agent: 'account-audit/1.0' };
const RECOVERY_CODES = Array.from({ length: 10 }, (_, i) => `rc${i}-${randomUUID().slice(0, 8)}`);

const call = (gw: StandInGateway, method: 'POST' | 'PATCH' | 'DELETE', url: string, token: string, payload?: object) =>
  gw.app.inject({
    method,
    url,
    ...(payload ? { payload } : {}),
    remoteAddress: CLIENT.ip,
    headers: { 'user-agent': CLIENT.user_agent, authorization: `Bearer ${token}` },
  });

const withoutSecrets = (events: AuditEvent[], secrets: string[]) => {
  const json = JSON.stringify(events);
  for (const secret of secrets) assert.ok(!json.includes(secret), `an event holds ${secret}`);
};

describe('the audit log of account and admin changes', () => {
  test('an API key made and revoked: its id, never the key nor its prefix', async () => {
    const made = newApiKey();
    const keyId = randomUUID();
    await withGateway(
      {
        'identity.api_key.create': async (m) => ({
          api_key: {
            id: keyId,
            name: m.name,
            prefix: made.prefix,
            created_at: new Date().toISOString(),
            last_used_at: null,
            expires_at: null,
          },
          key: made.key,
        }),
        'identity.api_key.revoke': async () => ({}),
      },
      async (gw) => {
        const sub = randomUUID();
        const token = await gw.sign({ sub, sid: randomUUID() });
        assert.equal((await call(gw, 'POST', '/auth/api-keys', token, { name: 'ci' })).statusCode, 201);
        assert.equal((await call(gw, 'DELETE', `/auth/api-keys/${keyId}`, token)).statusCode, 204);
        const [created, revoked] = gw.audit.events;
        assert.equal(created?.type, 'api_key.created');
        assert.equal(created?.user_id, sub);
        assert.equal(created?.ip, CLIENT.ip);
        assert.equal(created?.user_agent, CLIENT.user_agent);
        assert.deepEqual(created?.data, { key_id: keyId });
        assert.equal(revoked?.type, 'api_key.revoked');
        assert.deepEqual(revoked?.data, { key_id: keyId });
        withoutSecrets(gw.audit.events, [made.key, made.prefix, token]);
      },
    );
  });

  test('a password changed is recorded even when ending the other sessions then fails; a refused change is not', async () => {
    await withGateway(
      {
        'identity.password.change': async (m) => {
          if (m.current_password !== 'old pass phrase') throw new AppError('invalid_credentials', 'wrong');
          return {};
        },
        'session.user.revoke': async () => {
          throw new AppError('service_unavailable', 'session is down');
        },
      },
      async (gw) => {
        const sub = randomUUID();
        const token = await gw.sign({ sub, sid: randomUUID() });
        const body = { current_password: 'old pass phrase', new_password: 'new pass phrase 2' };
        assert.equal((await call(gw, 'POST', '/auth/password/change', token, body)).statusCode, 503);
        const refused = { current_password: 'a wrong guess', new_password: 'new pass phrase 3' };
        assert.equal((await call(gw, 'POST', '/auth/password/change', token, refused)).statusCode, 401);
        assert.deepEqual(
          gw.audit.events.map((e) => [e.type, e.user_id, e.data]),
          [['password.changed', sub, {}]],
        );
        withoutSecrets(gw.audit.events, [...Object.values(body), ...Object.values(refused)]);
      },
    );
  });

  test("an admin's ban records admin.user_updated: the target, the admin as actor, what changed, not the values typed", async () => {
    const target = userRecord('target@example.test');
    await withGateway(
      {
        'identity.admin.user.update': async (m) => ({ user: { ...target, banned: m.banned ?? false } }),
        'session.user.revoke': async () => ({ session_ids: [randomUUID()] }),
        'identity.invitation.create': async (m) => ({
          invitation: {
            id: randomUUID(),
            email: m.email,
            role: m.role,
            created_at: new Date().toISOString(),
            expires_at: new Date().toISOString(),
          },
        }),
      },
      async (gw) => {
        const admin = randomUUID();
        const token = await gw.sign({ sub: admin, sid: randomUUID(), role: 'admin' });
        const patch = { banned: true, name: 'A Secret Name', metadata: { note: 'private note' } };
        const res = await call(gw, 'PATCH', `/admin/users/${target.id}`, token, patch);
        assert.equal(res.statusCode, 200, res.body);
        const invited = await call(gw, 'POST', '/admin/invitations', token, { email: 'invitee@example.test' });
        assert.equal(invited.statusCode, 201, invited.body);
        const [updated, invitation] = gw.audit.events;
        assert.equal(updated?.type, 'admin.user_updated');
        assert.equal(updated?.project_id, DEFAULT_PROJECT_ID);
        assert.equal(updated?.user_id, target.id);
        assert.equal(updated?.actor_id, admin);
        assert.equal(updated?.ip, CLIENT.ip);
        assert.deepEqual(updated?.data, { changes: ['banned', 'name', 'metadata'], banned: true });
        assert.equal(invitation?.type, 'admin.invitation_created');
        assert.equal(invitation?.actor_id, admin);
        assert.equal(invitation?.user_id, null);
        assert.deepEqual(invitation?.data, { invitation_id: invited.json().id, role: 'user' });
        withoutSecrets(gw.audit.events, ['A Secret Name', 'private note', 'invitee', 'target@example.test']);
      },
    );
  });

  test('second factors and linked accounts: TOTP on and off, a passkey and a provider removed, a provider linked', async () => {
    const owner = userRecord('owner@example.test');
    const passkeyId = randomUUID();
    const identityId = randomUUID();
    await withGateway(
      {
        'mfa.totp.enable': async () => ({ recovery_codes: RECOVERY_CODES }),
        'mfa.totp.disable': async () => ({}),
        'identity.user.get': async () => ({ user: owner }),
        'identity.identity.list': async () => ({ identities: [] }),
        'mfa.passkey.list': async () => ({ passkeys: [] }),
        'mfa.passkey.delete': async () => ({}),
        'identity.identity.unlink': async () => ({}),
        'session.user.revoke': async () => ({ session_ids: [] }),
        'identity.notice.factor_added': async () => ({}),
        'identity.oauth.callback': async () => ({
          redirect_to: 'http://gatehouse.test/auth/confirm',
          session_ids: [],
          outcome: { status: 'linked', provider: 'github', project_id: DEFAULT_PROJECT_ID, user_id: owner.id },
        }),
      },
      async (gw) => {
        const token = await gw.sign({ sub: owner.id, sid: randomUUID() });
        const enabled = await call(gw, 'POST', '/auth/mfa/totp/enable', token, { code: '123456' });
        assert.equal(enabled.statusCode, 200, enabled.body);
        assert.equal((await call(gw, 'POST', '/auth/mfa/totp/disable', token, { code: '654321' })).statusCode, 204);
        assert.equal((await call(gw, 'DELETE', `/auth/passkeys/${passkeyId}`, token, {})).statusCode, 204);
        assert.equal((await call(gw, 'DELETE', `/auth/identities/${identityId}`, token, {})).statusCode, 204);
        const linked = await gw.app.inject({
          method: 'GET',
          url: '/auth/oauth/github/callback?code=provider-code-1&state=provider-state-1',
          remoteAddress: CLIENT.ip,
        });
        assert.equal(linked.statusCode, 302, linked.body);
        assert.deepEqual(
          gw.audit.events.map((e) => [e.type, e.user_id, e.data]),
          [
            ['mfa.totp_enabled', owner.id, {}],
            ['mfa.totp_disabled', owner.id, {}],
            ['passkey.removed', owner.id, { passkey_id: passkeyId }],
            ['identity.unlinked', owner.id, { identity_id: identityId }],
            ['identity.linked', owner.id, { provider: 'github' }],
          ],
        );
        withoutSecrets(gw.audit.events, ['123456', '654321', ...RECOVERY_CODES, 'provider-code-1', 'provider-state-1']);
      },
    );
  });
});
