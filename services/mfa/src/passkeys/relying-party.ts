import type { Config } from '@gatehouse/kit';

/** Who the passkeys are for (WebAuthn's relying party) and where ceremonies may run. */
export interface RelyingParty {
  /** The RP ID: PUBLIC_URL's host name. A passkey works on this domain and its subdomains. */
  id: string;
  name: string;
  /** Origins a response may come from: PUBLIC_URL's, and each of CORS_ORIGINS (the apps that call the API). */
  origins: string[];
}

/** The relying party of this deployment, from PUBLIC_URL and CORS_ORIGINS. */
export function relyingPartyOf(config: Pick<Config, 'publicUrl' | 'corsOrigins'>): RelyingParty {
  const publicUrl = new URL(config.publicUrl);
  const origins = new Set([publicUrl.origin]);
  for (const origin of config.corsOrigins) {
    try {
      origins.add(new URL(origin).origin);
    } catch {
      // Not a URL (e.g. `*`): a WebAuthn origin must be exact, so it adds nothing.
    }
  }
  return { id: publicUrl.hostname, name: 'Gatehouse', origins: [...origins] };
}
