import { randomUUID } from 'node:crypto';
import { rateLimitStoreContract } from './rate-limit.store.contract.ts';
import { MemoryRateLimitStore } from './rate-limit.store.ts';

const store = new MemoryRateLimitStore();
rateLimitStoreContract('memory', () => store, randomUUID);
