import { InProcessTransport } from './in-process.ts';
import { transportContract } from './transport.contract.ts';

transportContract('in-process', async () => sharedSwitchboard);

// Both "processes" of the contract share one switchboard, as the services of the embedded mode do.
const sharedSwitchboard = new InProcessTransport();
