import { InProcessTransport } from './in-process.ts';
import { transportContract } from './transport.contract.ts';

// Both "processes" of the contract share one switchboard, as the services of the embedded mode do.
const sharedSwitchboard = new InProcessTransport();

transportContract(
  'in-process',
  async () => sharedSwitchboard,
  // The tests that stop or close their bus get a switchboard of their own.
  async (n) => {
    const fresh = new InProcessTransport();
    return Array.from({ length: n }, () => fresh);
  },
);
