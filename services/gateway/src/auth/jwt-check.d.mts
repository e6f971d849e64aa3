export type CheckToken = (token: string) => Record<string, unknown>;
export function compileKeys(jwks: readonly { kid?: string; kty?: string }[], issuer: string): Map<string, CheckToken>;
export function checkToken(
  verifiers: Map<string, CheckToken>,
  kid: string | undefined,
  token: string,
): Record<string, unknown>;
