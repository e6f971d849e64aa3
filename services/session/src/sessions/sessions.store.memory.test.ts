import { sessionStoreContract } from './sessions.store.contract.ts';
import { MemorySessionStore } from './sessions.store.memory.ts';

sessionStoreContract('memory', () => new MemorySessionStore());
