/**
 * @gatehouse/js: the JavaScript client of Gatehouse. Sign-in of every kind, sessions that
 * refresh themselves once across tabs, and sign-out pushed over a WebSocket.
 */

export {
  REALTIME_CLOSE,
  REALTIME_PATH,
  type RealtimeClientMessage,
  type RealtimeCloseCode,
  type RealtimeEvent,
  type RealtimeEventType,
} from '@gatehouse/contracts/realtime';
export { AdminApi } from './admin.ts';
export { type BackoffOptions, backoffDelay } from './backoff.ts';
export {
  type Call,
  type ClientOptions,
  createClient,
  type FetchLike,
  GatehouseClient,
  type SecondFactor,
  type SignInResult,
} from './client.ts';
export type {
  AccessClaims,
  AdminUser,
  AdminUserPatch,
  AdminUsersPage,
  ApiKey,
  AssignableRole,
  AuditEvent,
  AuditEventType,
  AuditFilter,
  AuditPage,
  CreatedApiKey,
  CreatedPasskey,
  CreatedProject,
  Invitation,
  LinkedIdentity,
  MfaChallenge,
  MfaStatus,
  Passkey,
  ProfilePatch,
  Project,
  ProjectCreate,
  ProjectKeys,
  ProjectPatch,
  ProjectSettings,
  Role,
  Session,
  SessionCheck,
  SessionInfo,
  SocialProvider,
  StepUp,
  TokenResponse,
  TotpSetup,
  User,
  WireErrorCode,
} from './contract.ts';
export { GatehouseError, type GatehouseErrorCode } from './errors.ts';
export type { RealtimeStatus, WebSocketConstructor } from './realtime.ts';
export {
  type LocalStorageOptions,
  localStorageAdapter,
  memoryStorage,
  type StoredSession,
  type TokenStorage,
  type WebStorageLike,
} from './storage.ts';
export type { LockManagerLike } from './tabs.ts';
export {
  authenticationToJSON,
  createPasskeyCredential,
  creationOptionsFromJSON,
  getPasskeyCredential,
  type PublicKeyCredentialLike,
  registrationToJSON,
  requestOptionsFromJSON,
  type WebAuthnJSON,
} from './webauthn.ts';
