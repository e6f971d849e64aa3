import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { embeddedEnv } from '@gatehouse/kit/testing';
import { ADMIN_SERVER_ENV, adminBan, adminScenarios } from './admin-scenarios.ts';
import { apiKeyScenarios } from './api-key-scenarios.ts';
import { auditScenarios } from './audit-scenarios.ts';
import { EMAIL_SERVER_ENV, emailScenarios } from './email-scenarios.ts';
import { hostileScenarios } from './hostile-scenarios.ts';
import { lockoutScenarios } from './lockout-scenarios.ts';
import { type Mailbox, startMailbox } from './mailbox.ts';
import { mfaScenarios } from './mfa-scenarios.ts';
import { freePort, node, type Proc, waitForOk } from './processes.ts';
import { projectScenarios } from './project-scenarios.ts';
import { realtimeScenarios } from './realtime-scenarios.ts';
import { authScenarios, TEST_SERVER_ENV } from './scenarios.ts';
import { sdkScenarios } from './sdk-scenarios.ts';
import { type SocialPeers, socialScenarios, startSocialPeers } from './social-scenarios.ts';
import { trustScenarios } from './trust-scenarios.ts';

// The embedded mode as a newcomer runs it: one process, embedded Postgres in DATA_DIR,
// no NATS, Redis or Postgres server involved.
let base = '';
let proc: Proc;
let dataDir: string;
let mailbox: Mailbox;
let port: number;
let social: SocialPeers;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-'));
  mailbox = await startMailbox();
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  social = await startSocialPeers(`http://localhost:${port}`);
  proc = node('embedded', 'apps/embedded/src/main.ts', {
    ...TEST_SERVER_ENV,
    ...EMAIL_SERVER_ENV,
    ...ADMIN_SERVER_ENV,
    ...social.env,
    SMTP_URL: mailbox.url,
    ...embeddedEnv(port, dataDir),
  });
  await waitForOk(`${base}/readyz`, [proc]);
});

after(async () => {
  await proc?.stop();
  await mailbox?.close();
  await social?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

authScenarios('embedded', () => base);
lockoutScenarios('embedded', () => base);
hostileScenarios('embedded', () => base);
trustScenarios(
  'embedded',
  () => base,
  () => `http://localhost:${port}`,
  () => mailbox,
);
mfaScenarios(
  'embedded',
  () => base,
  () => `http://localhost:${port}`,
);
emailScenarios(
  'embedded',
  () => base,
  () => `http://localhost:${port}`,
  () => mailbox,
);
socialScenarios(
  'embedded',
  () => base,
  () => base,
  () => social,
  () => mailbox,
  (userId) => adminBan(base, userId),
);
adminScenarios(
  'embedded',
  () => base,
  () => base,
  () => mailbox,
);
apiKeyScenarios(
  'embedded',
  () => base,
  () => base,
  () => mailbox,
);
projectScenarios(
  'embedded',
  () => base,
  () => base,
  () => mailbox,
);
realtimeScenarios(
  'embedded',
  () => base,
  () => base,
);
auditScenarios(
  'embedded',
  () => base,
  () => base,
);
sdkScenarios(
  'embedded',
  () => base,
  () => base,
  () => mailbox,
  () => social,
);
