import Fastify from 'fastify';

// The baseline: a bare Fastify route in its own process, as the gateway runs in its own.
const app = Fastify({ logger: false });
app.get('/bare', async () => ({ ok: true }));
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
