import { defineConfig } from 'tsup';

// One ESM file and one declaration file. The contract's types are taken into the declarations
// (through the paths below, the contracts' sources are part of the bundle), so dist/index.d.ts
// names neither @gatehouse/contracts (private) nor TypeBox; the runtime takes realtime.ts, which
// has no import. `ws` stays an import: the optional peer, for Node 20's WebSocket.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  target: 'es2022',
  platform: 'neutral',
  external: ['ws'],
  dts: {
    resolve: true,
    compilerOptions: {
      paths: {
        '@gatehouse/contracts': ['../contracts/src/index.ts'],
        '@gatehouse/contracts/realtime': ['../contracts/src/realtime.ts'],
        // Resolved by the declaration bundler, which leaves a package's own types out: the
        // SDK's public types are written out (src/contract.ts), so none of TypeBox's is needed.
        '@sinclair/typebox': ['../contracts/node_modules/@sinclair/typebox'],
      },
    },
  },
  sourcemap: true,
  clean: true,
});
