/**
 * Every NATS subject Gatehouse uses. Requests are `<service>.<entity>.<verb>`
 * and are served in a queue group named after the owning service; events are
 * past-tense facts under `events.` so a stream or a permission can take the
 * whole prefix.
 */
export const requests = {
  identityRegister: 'identity.user.register',
  identityAuthenticate: 'identity.user.authenticate',
  identityGetUser: 'identity.user.get',
  identityUpdateUser: 'identity.user.update',
  identityDeleteUser: 'identity.user.delete',
  identityChangePassword: 'identity.password.change',
  identityCreateGuest: 'identity.guest.create',
  identityConvertGuest: 'identity.guest.convert',
  identityVerifyEmail: 'identity.email.verify',
  identityResendVerification: 'identity.email.resend',
  identityForgotPassword: 'identity.password.forgot',
  identityResetPassword: 'identity.password.reset',
  identitySendMagicLink: 'identity.magic_link.send',
  identityVerifyMagicLink: 'identity.magic_link.verify',
  identityHealth: 'identity.health.check',
  identityOAuthProviders: 'identity.oauth.providers',
  identityOAuthStart: 'identity.oauth.start',
  identityOAuthCallback: 'identity.oauth.callback',
  identityOAuthExchange: 'identity.oauth.exchange',
  identityOAuthLink: 'identity.oauth.link',
  identityIdentitiesList: 'identity.identity.list',
  identityIdentityUnlink: 'identity.identity.unlink',
  identityAdminUserList: 'identity.admin.user.list',
  identityAdminUserUpdate: 'identity.admin.user.update',
  identityAdminUserDelete: 'identity.admin.user.delete',
  identityInvitationCreate: 'identity.invitation.create',
  identityInvitationList: 'identity.invitation.list',
  identityInvitationRevoke: 'identity.invitation.revoke',
  identityInvitationAccept: 'identity.invitation.accept',
  identityApiKeyCreate: 'identity.api_key.create',
  identityApiKeyList: 'identity.api_key.list',
  identityApiKeyRevoke: 'identity.api_key.revoke',
  identityApiKeyVerify: 'identity.api_key.verify',
  identityApiKeyTouch: 'identity.api_key.touch',
  identityProjectCreate: 'identity.project.create',
  identityProjectList: 'identity.project.list',
  identityProjectUpdate: 'identity.project.update',
  identityProjectRotateKeys: 'identity.project.rotate_keys',
  identityProjectDirectory: 'identity.project.directory',
  identityAuditList: 'identity.audit.list',
  sessionCreate: 'session.session.create',
  sessionRefresh: 'session.session.refresh',
  sessionRevoke: 'session.session.revoke',
  sessionRevokeUser: 'session.user.revoke',
  sessionList: 'session.session.list',
  sessionRevocations: 'session.revocation.list',
  sessionJwks: 'session.jwks.get',
  sessionHealth: 'session.health.check',
  identitySetMfa: 'identity.user.set_mfa',
  identityFindUser: 'identity.user.find',
  identityVerifyPassword: 'identity.password.verify',
  identityFactorAdded: 'identity.notice.factor_added',
  mfaStatus: 'mfa.status.get',
  mfaTotpSetup: 'mfa.totp.setup',
  mfaTotpEnable: 'mfa.totp.enable',
  mfaTotpDisable: 'mfa.totp.disable',
  mfaRecoveryRegenerate: 'mfa.recovery.regenerate',
  mfaChallengeCreate: 'mfa.challenge.create',
  mfaChallengeVerify: 'mfa.challenge.verify',
  mfaPasskeyRegisterOptions: 'mfa.passkey.register_options',
  mfaPasskeyRegisterVerify: 'mfa.passkey.register_verify',
  mfaPasskeyLoginOptions: 'mfa.passkey.login_options',
  mfaPasskeyLoginVerify: 'mfa.passkey.login_verify',
  mfaPasskeyList: 'mfa.passkey.list',
  mfaPasskeyDelete: 'mfa.passkey.delete',
  mfaVerifyCode: 'mfa.code.verify',
  mfaForgetFactors: 'mfa.factors.forget',
  mfaHealth: 'mfa.health.check',
  mailerHealth: 'mailer.health.check',
} as const;

/**
 * The requests a caller may send once more when the first went unanswered (the
 * replica that took it died, or the message was lost): a second delivery does
 * what one would. Reads; revoking every session of a user (a second run finds
 * fewer, the event of the first went out); a refresh, which the grace window
 * (REFRESH_REUSE_INTERVAL) answers with the same rotation when the first one
 * did rotate. Never a sign-in (`identity.user.authenticate`, a passkey or code
 * check): the hash or the code check may have run and counted a failure, and
 * a second try would count it twice, or spend a one-time code that worked.
 * Never a creation (a session, a user, a key): it would be made twice.
 */
export const RETRYABLE_REQUESTS: ReadonlySet<RequestSubject> = new Set<RequestSubject>([
  requests.identityGetUser,
  requests.identityFindUser,
  requests.identityHealth,
  requests.identityOAuthProviders,
  requests.identityIdentitiesList,
  requests.identityAdminUserList,
  requests.identityInvitationList,
  requests.identityApiKeyList,
  requests.identityApiKeyVerify,
  requests.identityProjectList,
  requests.identityProjectDirectory,
  requests.identityAuditList,
  requests.sessionRefresh,
  requests.sessionRevokeUser,
  requests.sessionList,
  requests.sessionRevocations,
  requests.sessionJwks,
  requests.sessionHealth,
  requests.mfaStatus,
  requests.mfaPasskeyList,
  requests.mfaHealth,
  requests.mailerHealth,
]);

export const events = {
  userCreated: 'events.user.created',
  userUpdated: 'events.user.updated',
  userPasswordChanged: 'events.user.password_changed',
  userDeleted: 'events.user.deleted',
  sessionRevoked: 'events.session.revoked',
  mfaChanged: 'events.mfa.changed',
  keysRotated: 'events.keys.rotated',
  apiKeysRevoked: 'events.api_keys.revoked',
  projectChanged: 'events.project.changed',
} as const;

export type RequestSubject = (typeof requests)[keyof typeof requests];
export type EventSubject = (typeof events)[keyof typeof events];

/** The queue group a service's replicas share: its own name. */
export const queueGroupOf = (subject: RequestSubject): string => subject.split('.')[0] as string;
