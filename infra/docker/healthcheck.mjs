// The image's HEALTHCHECK (and Compose's): GET a probe path of this container's own service and exit 0
// on a 2xx answer, 1 otherwise. The gateway answers its probes on PORT (8080 by default), the other
// services on their operations port, OPS_PORT (9090 in the image). The path is the first argument,
// /readyz by default: Docker's "healthy" then means "can serve", which is what depends_on waits for.
//   node /usr/local/lib/gatehouse/healthcheck.mjs [/readyz|/healthz]
const path = process.argv[2] ?? '/readyz';
const { SERVICE, PORT, OPS_PORT } = process.env;
const port = SERVICE === 'gateway' ? PORT || '8080' : OPS_PORT || '9090';
try {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2500) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
