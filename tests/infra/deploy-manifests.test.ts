/**
 * The deployment manifests, checked offline (no cluster, no Docker engine, no network):
 *
 * - Kubernetes: `kubectl kustomize` renders infra/k8s (both overlays, the default entry point and
 *   the dependencies); every resource is validated against the Kubernetes schemas bundled in the
 *   `kubernetes-models` package twice: its JSON-schema validators (types, required fields, formats
 *   such as quantities) and its TypeScript declarations compiled in strict mode, which reject an
 *   unknown field the way `kubectl apply` (strict field validation) does. Then the properties
 *   Gatehouse relies on: probes, non-root, read-only root filesystem, resources, a PDB and an HPA
 *   per Deployment, default-deny NetworkPolicies with only the allowed paths.
 * - Compose: `docker-compose config -q` (Debian's docker-compose, installed by
 *   infra/scripts/ensure-services.sh) on a copy of docker-compose.yml, then its healthchecks,
 *   depends_on conditions, Redis' AOF, the gateway replicas behind the proxy.
 * - A broken manifest is shown to fail both validators (so a validator that stopped checking
 *   anything would be noticed).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import ts from 'typescript';
import { parse, parseAllDocuments } from 'yaml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const k8s = join(root, 'infra/k8s');
const SERVICES = ['gateway', 'identity', 'session', 'mfa', 'mailer'] as const;
const TOOL_TIMEOUT_MS = 60_000;

interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

// ---------------------------------------------------------------------------------------------
// Tools

function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: TOOL_TIMEOUT_MS, ...options });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `kustomize build` or `kubectl kustomize`, whichever is here, with kustomize v5 or later. */
function kustomizeCommand(): { cmd: string; args: string[] } {
  const standalone = spawnSync('kustomize', ['version'], { encoding: 'utf8', timeout: TOOL_TIMEOUT_MS });
  if (standalone.status === 0 && /v?([5-9]|\d{2,})\./.test(standalone.stdout)) {
    return { cmd: 'kustomize', args: ['build'] };
  }
  const kubectl = spawnSync('kubectl', ['version', '--client', '-o', 'json'], {
    encoding: 'utf8',
    timeout: TOOL_TIMEOUT_MS,
  });
  if (kubectl.error || kubectl.status !== 0) {
    throw new Error(
      'rendering infra/k8s needs kubectl 1.27 or later (kustomize v5) or a kustomize v5 binary on PATH; ' +
        `none found (${kubectl.error?.message ?? kubectl.stderr.trim()}). Debian's kubernetes-client (1.20) is too old.`,
    );
  }
  const version = (JSON.parse(kubectl.stdout) as { kustomizeVersion?: string }).kustomizeVersion ?? '';
  const major = Number(/^v(\d+)/.exec(version)?.[1] ?? 0);
  if (major < 5) throw new Error(`kubectl's kustomize is ${version || 'unknown'}; infra/k8s needs v5 or later`);
  return { cmd: 'kubectl', args: ['kustomize'] };
}

function render(kustomize: { cmd: string; args: string[] }, dir: string): Resource[] {
  const r = run(kustomize.cmd, [...kustomize.args, dir]);
  assert.equal(r.status, 0, `${kustomize.cmd} ${kustomize.args.join(' ')} ${dir} failed:\n${r.stderr}`);
  return parseYamlDocuments(r.stdout, dir);
}

function parseYamlDocuments(text: string, where: string): Resource[] {
  return parseAllDocuments(text).map((doc, i) => {
    assert.equal(doc.errors.length, 0, `${where}, document ${i}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as Resource;
  });
}

// ---------------------------------------------------------------------------------------------
// Schema validation with the Kubernetes schemas bundled in kubernetes-models

/** Kinds without a bundled schema (custom resources), checked by their own assertions below. */
const CUSTOM_RESOURCES = new Set(['postgresql.cnpg.io/v1/Cluster']);

const modelPath = (r: Resource) => `kubernetes-models/${r.apiVersion}/${r.kind}`;
const describeResource = (r: Resource) => `${r.kind} ${r.metadata?.namespace ?? '-'}/${r.metadata?.name}`;

/**
 * JSON-schema validation (kubernetes-models' ajv validators): the problems, empty when valid, and
 * whether the kind has a schema at all.
 */
async function schemaErrors(r: Resource): Promise<{ known: boolean; errors: string[] }> {
  if (typeof r.apiVersion !== 'string' || typeof r.kind !== 'string') {
    return { known: false, errors: ['no apiVersion or kind'] };
  }
  let model: Record<string, unknown>;
  try {
    model = (await import(modelPath(r))) as Record<string, unknown>;
  } catch {
    return {
      known: false,
      errors: [`no schema for ${r.apiVersion} ${r.kind} (not a Kubernetes kind, or a misspelt one)`],
    };
  }
  const Model = model[r.kind] as new (data: unknown) => { validate(): void };
  try {
    new Model(r).validate();
    return { known: true, errors: [] };
  } catch (err) {
    return { known: true, errors: [(err as Error).message] };
  }
}

/**
 * Strict structural validation: each resource becomes a TypeScript object literal typed with its
 * kubernetes-models interface, and the compiler's excess-property check reports every field the
 * Kubernetes API does not have (at any depth), as a strict `kubectl apply` would refuse it.
 */
function strictErrors(resources: Resource[]): Map<number, string[]> {
  const files = new Map<string, { source: string; index: number }>();
  resources.forEach((r, index) => {
    const iface = `I${r.kind}`;
    const source = `import type { ${iface} } from '${modelPath(r)}';\nexport const resource: ${iface} = ${JSON.stringify(r, null, 2)};\n`;
    files.set(join(root, 'tests/infra', `__manifest_${index}__.ts`), { source, index });
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, language, ...rest) => {
    const virtual = files.get(fileName);
    return virtual
      ? ts.createSourceFile(fileName, virtual.source, language)
      : getSourceFile(fileName, language, ...rest);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (fileName) => files.has(fileName) || fileExists(fileName);
  const program = ts.createProgram([...files.keys()], options, host);
  const errors = new Map<number, string[]>();
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const virtual = d.file ? files.get(d.file.fileName) : undefined;
    const index = virtual?.index ?? -1;
    let where = '';
    if (d.file && d.start !== undefined) {
      const { line } = d.file.getLineAndCharacterOfPosition(d.start);
      where = ` (at: ${d.file.text.split('\n')[line]?.trim()})`;
    }
    const list = errors.get(index) ?? [];
    list.push(ts.flattenDiagnosticMessageText(d.messageText, ' ') + where);
    errors.set(index, list);
  }
  return errors;
}

/** Both validations over a rendered set; returns "<resource>: <problem>" lines. */
async function validate(resources: Resource[]): Promise<string[]> {
  const problems: string[] = [];
  const known: Resource[] = [];
  for (const r of resources) {
    if (CUSTOM_RESOURCES.has(`${r.apiVersion}/${r.kind}`)) continue;
    const { known: hasSchema, errors } = await schemaErrors(r);
    for (const e of errors) problems.push(`${describeResource(r)}: ${e}`);
    if (hasSchema) known.push(r);
  }
  for (const [index, errors] of strictErrors(known)) {
    const r = known[index];
    for (const e of errors) problems.push(`${r ? describeResource(r) : 'typescript'}: ${e}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Helpers over rendered resources

const ofKind = <T>(resources: Resource[], kind: string) =>
  resources.filter((r) => r.kind === kind) as unknown as (T & Resource)[];

type LabelSelector = NonNullable<INetworkPolicy['spec']>['podSelector'];

/** Does a label selector select these labels? (matchLabels and matchExpressions, all operators.) */
function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    const value = labels[e.key];
    const inValues = value !== undefined && (e.values ?? []).includes(value);
    if (e.operator === 'In' && !inValues) return false;
    if (e.operator === 'NotIn' && inValues) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

const podLabels = (d: IDeployment) => d.spec?.template.metadata?.labels ?? {};

interface AllowedRule {
  policy: string;
  ports: string[]; // "TCP/4222"
  peers: NonNullable<NonNullable<INetworkPolicy['spec']>['egress']>[number]['to'];
}

/** The egress (or ingress) rules of every policy that selects a pod with these labels. */
function rulesFor(policies: INetworkPolicy[], labels: Record<string, string>, direction: 'Ingress' | 'Egress') {
  const rules: AllowedRule[] = [];
  for (const p of policies) {
    if (!p.spec || !selects(p.spec.podSelector, labels)) continue;
    const list = direction === 'Egress' ? (p.spec.egress ?? []) : (p.spec.ingress ?? []);
    for (const rule of list) {
      const ports = (rule.ports ?? []).map((port) => `${port.protocol ?? 'TCP'}/${port.port}`);
      const peers = 'to' in rule ? rule.to : 'from' in rule ? rule.from : undefined;
      rules.push({ policy: p.metadata?.name ?? '?', ports, peers });
    }
  }
  return rules;
}

const env = (c: IContainer, name: string) => c.env?.find((e) => e.name === name);

// ---------------------------------------------------------------------------------------------
// Kubernetes

const OVERLAYS = ['overlays/dev', 'overlays/prod', '.'] as const;

describe('Kubernetes manifests (infra/k8s)', () => {
  let kustomize: { cmd: string; args: string[] };
  const rendered = new Map<string, Resource[]>();

  before(() => {
    kustomize = kustomizeCommand();
    for (const overlay of OVERLAYS) rendered.set(overlay, render(kustomize, join(k8s, overlay)));
    rendered.set('dependencies', render(kustomize, join(k8s, 'dependencies')));
  });
  const get = (overlay: string) => rendered.get(overlay) ?? assert.fail(`${overlay} was not rendered`);

  it('the validators catch a broken manifest (a wrong type, a bad quantity, a misspelt field, an unknown kind)', async () => {
    const original = ofKind<IDeployment>(get('overlays/prod'), 'Deployment')[0];
    assert.ok(original?.spec, 'a Deployment to break');
    assert.deepEqual(await validate([original as unknown as Resource]), [], 'the unbroken Deployment is valid');
    /** A copy of the Deployment with its container changed by `change`, and what the validators say of it. */
    const breakContainer = async (change: (container: Record<string, unknown>) => void) => {
      const copy = structuredClone(original);
      change(copy.spec?.template.spec?.containers[0] as unknown as Record<string, unknown>);
      return (await validate([copy as unknown as Resource])).join('\n');
    };
    const port = await breakContainer((c) => {
      c.ports = [{ name: 'http', containerPort: 'eighty' }];
    });
    assert.match(port, /containerPort must be integer/); // the JSON schema
    assert.match(port, /Type 'string' is not assignable to type 'number'/); // the TypeScript declarations
    const memory = await breakContainer((c) => {
      c.resources = { limits: { memory: 'lots' } };
    });
    assert.match(memory, /memory must match format "quantity"/);
    const typo = await breakContainer((c) => {
      c.livenessprobe = c.livenessProbe;
      delete c.livenessProbe;
    });
    assert.match(typo, /'"?livenessprobe"?' does not exist in type 'IContainer'/);
    const unknownKind = { ...original, kind: 'Deploymnet' } as unknown as Resource;
    assert.match((await validate([unknownKind])).join('\n'), /no schema for apps\/v1 Deploymnet/);
  });

  for (const overlay of [...OVERLAYS, 'dependencies']) {
    it(`${overlay === '.' ? 'infra/k8s (the default: prod)' : overlay}: every resource is valid against the Kubernetes schemas`, async () => {
      const resources = get(overlay);
      assert.ok(resources.length > 0);
      const problems = await validate(resources);
      assert.deepEqual(problems, [], `invalid resources:\n${problems.join('\n')}`);
    });
  }

  it('infra/k8s renders the prod overlay', () => {
    assert.deepEqual(get('.'), get('overlays/prod'));
  });

  for (const overlay of ['overlays/dev', 'overlays/prod']) {
    describe(overlay, () => {
      const resources = () => get(overlay);
      const deployments = () => ofKind<IDeployment>(resources(), 'Deployment');

      it('has one Deployment per service, in the namespace gatehouse, with no Secret and no plain credential', () => {
        assert.deepEqual(
          deployments()
            .map((d) => d.metadata?.name)
            .sort(),
          [...SERVICES].sort(),
        );
        for (const r of resources()) {
          if (r.kind !== 'Namespace') assert.equal(r.metadata.namespace, 'gatehouse', describeResource(r));
        }
        assert.equal(
          ofKind<ISecret>(resources(), 'Secret').length,
          0,
          'Secrets are created apart (secrets.example.yaml)',
        );
        const [config] = ofKind<IConfigMap>(resources(), 'ConfigMap');
        assert.ok(config?.data?.NATS_URL && config.data.PUBLIC_URL, 'the ConfigMap has NATS_URL and PUBLIC_URL');
        for (const key of ['SECRET_KEY', 'SECRET_KEY_PREVIOUS', 'DATABASE_URL', 'REDIS_URL', 'SMTP_URL', 'NATS_NKEY']) {
          assert.equal(config.data[key], undefined, `${key} does not belong in the ConfigMap`);
        }
        const [namespace] = ofKind<INamespace>(resources(), 'Namespace');
        assert.equal(namespace?.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
      });

      it('every Deployment: probes, non-root, read-only root filesystem, resources, no privilege, spread', () => {
        for (const d of deployments()) {
          const name = d.metadata?.name ?? '?';
          const spec = d.spec?.template.spec;
          assert.ok(spec, name);
          assert.equal(d.spec?.replicas, undefined, `${name}: replicas belong to the HPA`);
          assert.equal(spec.automountServiceAccountToken, false, `${name}: no API token`);
          assert.equal(spec.securityContext?.runAsNonRoot, true, `${name}: runAsNonRoot`);
          assert.ok((spec.securityContext?.runAsUser ?? 0) > 0, `${name}: a non-root uid`);
          assert.equal(spec.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${name}: seccomp`);
          assert.ok((spec.terminationGracePeriodSeconds ?? 30) >= 20, `${name}: time to drain after SIGTERM`);
          const keys = (spec.topologySpreadConstraints ?? []).map((t) => t.topologyKey);
          assert.ok(keys.includes('kubernetes.io/hostname'), `${name}: spread over nodes`);
          assert.ok(keys.includes('topology.kubernetes.io/zone'), `${name}: spread over zones`);
          const tmp = spec.volumes?.find((v) => v.emptyDir);
          assert.equal(spec.containers.length, 1, name);
          for (const c of spec.containers) {
            const where = `${name}/${c.name}`;
            const port = name === 'gateway' ? 8080 : 9090;
            const portName = c.ports?.find((p) => p.containerPort === port)?.name;
            assert.ok(portName, `${where}: container port ${port}`);
            for (const [probe, path] of [
              ['startupProbe', '/healthz'],
              ['livenessProbe', '/healthz'],
              // The gateway's own readiness: a service behind the bus down must not empty the Service.
              ['readinessProbe', name === 'gateway' ? '/readyz/gateway' : '/readyz'],
            ] as const) {
              const p = c[probe];
              assert.ok(p?.httpGet, `${where}: ${probe}`);
              assert.equal(p.httpGet.path, path, `${where}: ${probe} path`);
              assert.ok(p.httpGet.port === portName || p.httpGet.port === port, `${where}: ${probe} port`);
            }
            for (const kind of ['requests', 'limits'] as const) {
              assert.ok(c.resources?.[kind]?.cpu, `${where}: ${kind}.cpu`);
              assert.ok(c.resources?.[kind]?.memory, `${where}: ${kind}.memory`);
            }
            assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
            assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
            assert.ok(c.securityContext?.capabilities?.drop?.includes('ALL'), `${where}: drop ALL capabilities`);
            assert.equal(c.securityContext?.capabilities?.add, undefined, `${where}: no capability added`);
            assert.equal(c.securityContext?.privileged, undefined, `${where}: not privileged`);
            const tmpMount = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
            assert.ok(tmp && tmpMount?.name === tmp.name, `${where}: /tmp on an emptyDir`);
            if (name !== 'gateway') assert.equal(env(c, 'OPS_PORT')?.value, '9090', `${where}: OPS_PORT`);
            // Credentials come from Secrets only; SECRET_KEY only where it is read.
            for (const key of ['SECRET_KEY', 'SECRET_KEY_PREVIOUS', 'DATABASE_URL', 'REDIS_URL', 'SMTP_URL']) {
              const e = env(c, key);
              if (e) assert.ok(e.valueFrom?.secretKeyRef && e.value === undefined, `${where}: ${key} from a Secret`);
            }
            assert.equal(Boolean(env(c, 'SECRET_KEY')), name === 'session' || name === 'mfa', `${where}: SECRET_KEY`);
          }
          const annotations = d.spec?.template.metadata?.annotations ?? {};
          assert.equal(annotations['prometheus.io/scrape'], 'true', `${name}: scrape annotation`);
          assert.equal(annotations['prometheus.io/port'], name === 'gateway' ? '8080' : '9090', `${name}: scrape port`);
          assert.equal(annotations['prometheus.io/path'], '/metrics', `${name}: scrape path`);
        }
      });

      it('every Deployment has an HPA (CPU) and a PodDisruptionBudget', () => {
        const hpas = ofKind<IHorizontalPodAutoscaler>(resources(), 'HorizontalPodAutoscaler');
        const pdbs = ofKind<IPodDisruptionBudget>(resources(), 'PodDisruptionBudget');
        for (const d of deployments()) {
          const name = d.metadata?.name ?? '?';
          const hpa = hpas.filter(
            (h) => h.spec?.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === name,
          );
          assert.equal(hpa.length, 1, `${name}: one HPA`);
          const spec = hpa[0]?.spec;
          assert.ok(spec && spec.maxReplicas >= (spec.minReplicas ?? 1), `${name}: min <= max`);
          if (overlay === 'overlays/prod') assert.ok((spec.minReplicas ?? 1) >= 2, `${name}: two replicas at least`);
          const cpu = spec.metrics?.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
          assert.equal(cpu?.resource?.target.type, 'Utilization', `${name}: CPU utilization target`);
          const pdb = pdbs.filter((p) => selects(p.spec?.selector, podLabels(d)));
          assert.equal(pdb.length, 1, `${name}: one PDB`);
          assert.ok(pdb[0]?.spec?.maxUnavailable !== undefined || pdb[0]?.spec?.minAvailable !== undefined, name);
          assert.ok(selects(d.spec?.selector, podLabels(d)), `${name}: the selector matches the pod labels`);
        }
      });

      it('NetworkPolicy: default-deny, only the gateway takes traffic, each service reaches only what it uses', () => {
        const policies = ofKind<INetworkPolicy>(resources(), 'NetworkPolicy');
        const deny = policies.find(
          (p) =>
            Object.keys(p.spec?.podSelector ?? { x: 1 }).length === 0 &&
            p.spec?.policyTypes?.includes('Ingress') &&
            p.spec.policyTypes.includes('Egress') &&
            !p.spec.ingress?.length &&
            !p.spec.egress?.length,
        );
        assert.ok(deny, 'a default-deny policy over every pod, both directions');

        const social = overlay === 'overlays/dev'; // the dev overlay adds components/social-sign-in
        const allowed: Record<(typeof SERVICES)[number], string[]> = {
          gateway: ['TCP/4222', 'TCP/6379'],
          identity: ['TCP/4222', 'TCP/6379', 'TCP/5432', ...(social ? ['TCP/443'] : [])],
          session: ['TCP/4222', 'TCP/6379'],
          mfa: ['TCP/4222', 'TCP/5432'],
          mailer: ['TCP/4222', 'TCP/25', 'TCP/465', 'TCP/587'],
        };
        for (const d of deployments()) {
          const name = d.metadata?.name as (typeof SERVICES)[number];
          const egress = rulesFor(policies, podLabels(d), 'Egress');
          for (const rule of egress) {
            assert.ok(rule.ports.length > 0, `${name}: egress rule of ${rule.policy} names its ports`);
            for (const port of rule.ports) {
              const dns = port === 'UDP/53' || port === 'TCP/53';
              assert.ok(
                dns || allowed[name].includes(port),
                `${name}: egress to ${port} (${rule.policy}) is not allowed`,
              );
              if (dns) {
                const kubeDns = rule.peers?.every((peer) => peer.podSelector?.matchLabels?.['k8s-app'] === 'kube-dns');
                assert.ok(kubeDns, `${name}: DNS only to kube-dns`);
              }
            }
          }
          const reached = new Set(egress.flatMap((r) => r.ports));
          for (const port of [...allowed[name], 'UDP/53']) assert.ok(reached.has(port), `${name}: egress to ${port}`);

          const ingress = rulesFor(policies, podLabels(d), 'Ingress');
          for (const rule of ingress) {
            assert.ok(rule.ports.length > 0 && rule.peers?.length, `${name}: ingress rule of ${rule.policy} is narrow`);
            const fromMonitoring = rule.peers?.every(
              (peer) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring',
            );
            if (name !== 'gateway') {
              assert.ok(fromMonitoring, `${name}: only Prometheus may connect (${rule.policy})`);
              assert.deepEqual(
                rule.ports.filter((p) => p !== 'TCP/9090' && p !== 'TCP/8080'),
                [],
                `${name}: ports`,
              );
            }
          }
          if (name === 'gateway') {
            const http = ingress.find((r) => r.ports.includes('TCP/8080') && r.policy !== 'allow-metrics-scrape');
            assert.ok(http, 'the gateway takes HTTP traffic on 8080');
          }
        }
      });

      it('the gateway Service and Ingress carry WebSockets on /auth/events', () => {
        const service = ofKind<IService>(resources(), 'Service').find((s) => s.metadata?.name === 'gateway');
        assert.equal(service?.spec?.ports?.[0]?.targetPort, 'http');
        const gateway = deployments().find((d) => d.metadata?.name === 'gateway');
        assert.ok(gateway, 'the gateway Deployment');
        assert.ok(
          gateway?.spec?.template.spec?.containers[0]?.ports?.some((p) => p.name === 'http'),
          'port http',
        );
        assert.ok(
          selects({ matchLabels: service?.spec?.selector }, podLabels(gateway)),
          'the Service selects the gateway',
        );
        const [ingress] = ofKind<IIngress>(resources(), 'Ingress');
        const paths = ingress?.spec?.rules?.flatMap((r) => r.http?.paths ?? []) ?? [];
        const covers = paths.some(
          (p) =>
            p.backend.service?.name === 'gateway' && p.pathType === 'Prefix' && '/auth/events'.startsWith(p.path ?? ''),
        );
        assert.ok(covers, 'a path to the gateway covers /auth/events');
        const annotations = ingress?.metadata?.annotations ?? {};
        for (const a of ['proxy-read-timeout', 'proxy-send-timeout']) {
          const seconds = Number(annotations[`nginx.ingress.kubernetes.io/${a}`]);
          assert.ok(seconds >= 300, `${a}: long enough for an idle WebSocket (got ${seconds})`);
        }
        if (overlay === 'overlays/prod') assert.ok(ingress?.spec?.tls?.length, 'TLS in production');
      });
    });
  }

  it('secrets.example.yaml: valid Secrets with placeholders only, part of no kustomization', async () => {
    const file = join(k8s, 'secrets.example.yaml');
    const secrets = parseYamlDocuments(readFileSync(file, 'utf8'), file);
    assert.deepEqual(await validate(secrets), []);
    for (const s of secrets as unknown as (ISecret & Resource)[]) {
      assert.equal(s.kind, 'Secret');
      assert.equal(s.data, undefined, `${s.metadata.name}: stringData only, readable placeholders`);
      for (const [key, value] of Object.entries(s.stringData ?? {})) {
        assert.match(value, /REPLACE_ME/, `${s.metadata.name}.${key} must be a placeholder`);
      }
    }
    for (const dir of ['base', 'overlays/dev', 'overlays/prod', '.', 'dependencies']) {
      const kustomization = parse(readFileSync(join(k8s, dir, 'kustomization.yaml'), 'utf8')) as Record<
        string,
        unknown
      >;
      const listed = JSON.stringify([kustomization.resources, kustomization.components, kustomization.patches]);
      assert.doesNotMatch(listed, /secrets\.example/, `${dir}/kustomization.yaml must not apply the example`);
    }
  });

  it('dependencies: Redis with AOF and its ACL, Postgres via CloudNativePG, NATS values with JetStream', () => {
    const resources = get('dependencies');
    const redis = ofKind<IStatefulSet>(resources, 'StatefulSet').find((s) => s.metadata?.name === 'redis');
    const args = redis?.spec?.template.spec?.containers[0]?.args?.join(' ') ?? '';
    assert.match(args, /--appendonly yes/);
    assert.match(args, /--appendfsync everysec/);
    assert.match(args, /--aclfile /);
    assert.match(args, /--maxmemory-policy noeviction/);
    assert.ok(redis?.spec?.volumeClaimTemplates?.length, 'Redis data on a PersistentVolume');
    assert.equal(redis?.spec?.template.spec?.securityContext?.runAsNonRoot, true);

    const pg = resources.find((r) => r.kind === 'Cluster') as
      | (Resource & { spec: { instances: number; bootstrap: { initdb: { database: string; owner: string } } } })
      | undefined;
    assert.equal(pg?.apiVersion, 'postgresql.cnpg.io/v1');
    assert.equal(pg?.metadata.name, 'gatehouse-pg', 'the name the NetworkPolicy selects (cnpg.io/cluster)');
    assert.equal(pg?.spec.bootstrap.initdb.database, 'gatehouse');
    assert.ok((pg?.spec.instances ?? 0) >= 2);

    const nats = parse(readFileSync(join(k8s, 'dependencies/nats-values.yaml'), 'utf8')) as {
      config: {
        jetstream: { enabled: boolean; fileStore: { pvc: { enabled: boolean } } };
        merge: Record<string, string>;
      };
      container: { env: Record<string, unknown> };
    };
    assert.equal(nats.config.jetstream.enabled, true);
    assert.equal(nats.config.jetstream.fileStore.pvc.enabled, true);
    assert.match(nats.config.merge.$include ?? '', /authorization\.conf$/);
    for (const s of SERVICES) assert.ok(nats.container.env[`NKEY_${s.toUpperCase()}`], `NKEY_${s.toUpperCase()}`);
    // What the base's policies expect of these: their namespace and labels.
    const base = get('overlays/prod');
    const policies = JSON.stringify(ofKind<INetworkPolicy>(base, 'NetworkPolicy'));
    assert.match(policies, /"kubernetes.io\/metadata.name":"gatehouse-data"/);
    assert.ok(redis && selects(redis.spec?.selector, { 'app.kubernetes.io/name': 'redis' }));
    assert.ok(resources.some((r) => r.kind === 'Namespace' && r.metadata.name === 'gatehouse-data'));
  });
});

// ---------------------------------------------------------------------------------------------
// Docker Compose

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string; args?: Record<string, string> };
  command?: string[] | string;
  environment?: Record<string, string | null>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  volumes?: (string | { source?: string; target: string; type?: string })[];
  ports?: (string | { published?: number | string; target: number })[];
  deploy?: { replicas?: number };
  read_only?: boolean;
  cap_drop?: string[];
  env_file?: string[] | string;
}

describe('docker-compose.yml', () => {
  let dir: string;
  let services: Record<string, ComposeService>;
  const composeEnv = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, SECRET_KEY: 'test-only' });
  const compose = (args: string[]) =>
    run('docker-compose', ['--project-directory', dir, ...args], { cwd: dir, env: composeEnv() });

  before(() => {
    const which = spawnSync('docker-compose', ['version'], { encoding: 'utf8', timeout: TOOL_TIMEOUT_MS });
    if (which.error || which.status !== 0) {
      throw new Error(
        'docker-compose is missing: bash infra/scripts/ensure-services.sh installs it (Debian docker-compose)',
      );
    }
    // A copy, so the key files the stack needs (made by nats-keys.mjs and redis-users.mjs, never
    // committed) can be stood in for without touching the real ones.
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-compose-'));
    copyFileSync(join(root, 'docker-compose.yml'), join(dir, 'docker-compose.yml'));
    const raw = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, ComposeService>;
    };
    for (const s of Object.values(raw.services)) {
      for (const file of [s.env_file ?? []].flat()) {
        mkdirSync(dirname(join(dir, file)), { recursive: true });
        writeFileSync(join(dir, file), '');
      }
    }
    const checked = compose(['-f', join(dir, 'docker-compose.yml'), 'config', '-q']);
    assert.equal(checked.status, 0, `docker-compose config -q failed:\n${checked.stderr}`);
    const config = compose(['-f', join(dir, 'docker-compose.yml'), 'config']);
    assert.equal(config.status, 0, config.stderr);
    services = (parse(config.stdout) as { services: Record<string, ComposeService> }).services;
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('docker-compose config -q rejects a broken file (so it does check)', () => {
    const text = readFileSync(join(dir, 'docker-compose.yml'), 'utf8');
    const bad = join(dir, 'broken.yml');
    writeFileSync(bad, text.replace('condition: service_healthy', 'condition: service_healty'));
    const r = compose(['-f', bad, 'config', '-q']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /service_healty/);
  });

  it('has the stack: NATS, Redis, Postgres, Mailpit, the five services and the proxy', () => {
    assert.deepEqual(
      Object.keys(services).sort(),
      ['gateway', 'identity', 'mailer', 'mailpit', 'mfa', 'nats', 'postgres', 'proxy', 'redis', 'session'].sort(),
    );
  });

  it('every service has a healthcheck, and every depends_on waits for service_healthy', () => {
    for (const [name, s] of Object.entries(services)) {
      assert.ok(s.healthcheck?.test && !s.healthcheck.disable, `${name}: healthcheck`);
      assert.notDeepEqual(s.healthcheck.test, ['NONE'], `${name}: healthcheck`);
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        assert.equal(condition, 'service_healthy', `${name} -> ${dep}`);
      }
    }
    for (const s of SERVICES) {
      assert.ok(Object.keys(services[s]?.depends_on ?? {}).includes('nats'), `${s} waits for NATS`);
      assert.ok(String(services[s]?.healthcheck?.test).includes('/readyz'), `${s}: healthy means ready`);
    }
    assert.deepEqual(Object.keys(services.gateway?.depends_on ?? {}).sort(), [
      'identity',
      'mailer',
      'mfa',
      'nats',
      'redis',
      'session',
    ]);
    assert.deepEqual(Object.keys(services.proxy?.depends_on ?? {}), ['gateway']);
  });

  const volumeTargets = (s: ComposeService | undefined) =>
    (s?.volumes ?? []).map((v) => (typeof v === 'string' ? (v.split(':')[1] ?? '') : v.target));
  const commandLine = (s: ComposeService | undefined) => [s?.command ?? []].flat().join(' ');

  it('NATS with JetStream and the nkey config, Redis with AOF, Postgres, each on a volume', () => {
    assert.match(commandLine(services.nats), /-js\b/);
    assert.match(commandLine(services.nats), /-sd \/data/);
    assert.ok(volumeTargets(services.nats).includes('/data'));
    assert.ok(volumeTargets(services.nats).includes('/etc/nats/gatehouse.conf'));
    assert.match(readFileSync(join(root, 'infra/nats/nats-server.conf'), 'utf8'), /^jetstream: enabled/m);
    assert.match(commandLine(services.redis), /--appendonly yes/);
    assert.match(commandLine(services.redis), /--appendfsync everysec/);
    assert.match(commandLine(services.redis), /--aclfile /);
    assert.ok(volumeTargets(services.redis).includes('/data'));
    assert.ok(volumeTargets(services.postgres).includes('/var/lib/postgresql/data'));
    assert.ok(JSON.stringify(services.mailpit?.ports).includes('8025'), 'the Mailpit web UI');
    assert.equal(services.mailer?.environment?.SMTP_URL, 'smtp://mailpit:1025');
  });

  it('the five services: one image recipe, read-only, no capabilities, probes on their ports', () => {
    for (const name of SERVICES) {
      const s = services[name];
      assert.equal(s?.build?.dockerfile, 'infra/docker/Dockerfile', name);
      assert.equal(s.build.args?.SERVICE, name, `${name}: --build-arg SERVICE`);
      assert.equal(s.read_only, true, `${name}: read-only root filesystem`);
      assert.deepEqual(s.cap_drop, ['ALL'], `${name}: no capabilities`);
      if (name !== 'gateway') assert.equal(s.environment?.OPS_PORT, '9090', `${name}: OPS_PORT`);
      assert.equal('SECRET_KEY' in (s.environment ?? {}), name === 'session' || name === 'mfa', `${name}: SECRET_KEY`);
    }
  });

  it('two gateway replicas behind one port, WebSocket upgrades on /auth/events', () => {
    assert.equal(services.gateway?.deploy?.replicas, 2);
    assert.equal(services.gateway?.ports, undefined, 'the gateways publish no port: the proxy is the way in');
    assert.equal(services.gateway?.environment?.TRUST_PROXY, '1', 'one proxy hop');
    assert.ok(JSON.stringify(services.proxy?.ports).includes('8080'));
    assert.ok(volumeTargets(services.proxy).includes('/etc/nginx/conf.d/default.conf'));
    const nginx = readFileSync(join(root, 'infra/docker/nginx/gatehouse.conf'), 'utf8');
    const events = /location = \/auth\/events \{([^}]*)\}/.exec(nginx)?.[1] ?? '';
    assert.match(events, /proxy_set_header Upgrade \$http_upgrade;/);
    assert.match(events, /proxy_set_header Connection \$connection_upgrade;/);
    assert.match(events, /proxy_read_timeout \d+[hm]/);
    assert.match(nginx, /set \$gateway http:\/\/gateway:8080;/);
  });
});

// ---------------------------------------------------------------------------------------------
// The image recipe

describe('infra/docker/Dockerfile', () => {
  const dockerfile = readFileSync(join(root, 'infra/docker/Dockerfile'), 'utf8');

  it('runs the bundle on production dependencies only, a non-root user, a HEALTHCHECK', () => {
    assert.match(dockerfile, /pnpm install --frozen-lockfile --prod/);
    // The bundles are built in a stage of their own (every dependency, the sources) and only they
    // reach the runtime: no sources, no TypeScript loader.
    assert.match(dockerfile, /^FROM \S+ AS build$[\s\S]*^RUN pnpm build$/m);
    const runtime = dockerfile.slice(dockerfile.search(/^FROM \S+ AS runtime$/m));
    assert.match(runtime, /^COPY --from=build \/app\/services\/\$\{SERVICE\}\/dist /m);
    assert.match(runtime, /^COPY --from=build \/app\/apps\/cli\/dist /m, 'the CLI (keys rotate)');
    assert.doesNotMatch(runtime, /^COPY (packages|services|apps) /m, 'no sources in the runtime');
    assert.doesNotMatch(runtime, /tsx/, 'no TypeScript loader');
    const users = [...dockerfile.matchAll(/^USER (\S+)/gm)].map((m) => m[1]);
    assert.ok(users.length > 0 && users.every((u) => u !== 'root' && u !== '0' && !u?.startsWith('0:')), 'USER');
    assert.match(dockerfile, /^HEALTHCHECK .*\n?.*healthcheck\.mjs/m);
    assert.match(dockerfile, /^ARG SERVICE$/m);
    assert.match(dockerfile, /CMD exec node "services\/\$\{SERVICE\}\/dist\/main\.mjs"/);
  });

  it('pnpm build writes each bundle with the files it reads beside itself, importing only the externals', () => {
    // Into a directory of its own: what runs from the dist/ directories is left alone.
    const out = mkdtempSync(join(tmpdir(), 'gatehouse-build-'));
    after(() => rmSync(out, { recursive: true, force: true }));
    const built = spawnSync(process.execPath, ['infra/scripts/build.mjs', '--out', out, 'gateway', 'mailer', 'cli'], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(built.status, 0, built.stderr);
    const dist = (name: string, file: string) => join(out, name, file);
    for (const name of ['gateway', 'mailer', 'cli']) {
      assert.ok(existsSync(dist(name, 'main.mjs')), `${name}/main.mjs`);
    }
    assert.ok(existsSync(dist('gateway', 'jwt-check.mjs')), 'the verification worker');
    assert.ok(existsSync(dist('gateway', 'confirm.page.html')), 'the confirm page');
    assert.ok(existsSync(dist('mailer', 'templates/verify_email')), 'the mail templates');
    // What the runtime image must still provide from node_modules: Node's modules and the externals.
    const allowed =
      /^(node:|@fastify\/swagger-ui|@electric-sql\/pglite|@node-rs\/argon2|pg-native|bufferutil|utf-8-validate)/;
    for (const dir of ['gateway', 'mailer', 'cli']) {
      const code = readFileSync(dist(dir, 'main.mjs'), 'utf8');
      const specifiers = [
        ...code.matchAll(/^import\s[^;]*?from\s*"([^"]+)"/gm),
        ...code.matchAll(/\bimport\("([^"]+)"\)/g),
      ]
        .map((m) => m[1] as string)
        .filter((s) => !s.startsWith('.'));
      const foreign = [...new Set(specifiers)].filter((s) => !allowed.test(s) && !builtinModules.includes(s));
      assert.deepEqual(foreign, [], `${dir}: imports left to node_modules`);
    }
  });
});
