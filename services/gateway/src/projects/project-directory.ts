import { DEFAULT_PROJECT_ID, type ProjectSettings, type ProjectSignInMethod } from '@gatehouse/contracts';
import { AppError, apiKeyHash } from '@gatehouse/kit';
import type { FastifyRequest } from 'fastify';
import { type AllowedPrefix, parseAllowlist } from '../http/redirects.ts';

/** One project as the gateway keeps it (identity's `identity.project.directory`). */
export interface ProjectEntry {
  id: string;
  publishable_key: string;
  secret_key_hash: string | null;
  settings: ProjectSettings;
}

interface Known extends ProjectEntry {
  /** `settings.redirect_allowlist` parsed once, or null: the instance's REDIRECT_ALLOWLIST applies. */
  redirects: AllowedPrefix[] | null;
}

/** The project a request names, and how. */
export interface NamedProject {
  id: string;
  /** True when the request came with the project's secret key: it acts as that project's admin. */
  secretKey: boolean;
  /** True when the request named it (X-API-Key); false for the default project by omission. */
  named: boolean;
}

const unknownKey = () => new AppError('unauthorized', 'this project key is not valid');

/**
 * Every project's keys and settings, in the gateway's memory: a request names
 * its project (`X-API-Key: pk_...` or `sk_...`) and the gateway finds it with
 * a Map read, no database call. Filled at start, kept by `events.project.changed`
 * (a created, changed or re-keyed project is reloaded), and reloaded whole now
 * and then, which also picks up what the command-line tool changed.
 */
export class ProjectDirectory {
  readonly #byId = new Map<string, Known>();
  readonly #byPublishable = new Map<string, Known>();
  readonly #bySecretHash = new Map<string, Known>();
  readonly #instanceRedirects: readonly AllowedPrefix[];

  constructor(instanceRedirects: readonly AllowedPrefix[]) {
    this.#instanceRedirects = instanceRedirects;
  }

  /** Replaces everything known with `entries` (a full reload). */
  replaceAll(entries: readonly ProjectEntry[]): void {
    this.#byId.clear();
    this.#byPublishable.clear();
    this.#bySecretHash.clear();
    for (const entry of entries) this.put(entry);
  }

  /** Adds or replaces one project; its old keys stop naming it at once. */
  put(entry: ProjectEntry): void {
    this.remove(entry.id);
    let redirects: AllowedPrefix[] | null = null;
    try {
      redirects = entry.settings.redirect_allowlist ? parseAllowlist(entry.settings.redirect_allowlist) : null;
    } catch {
      // identity checks the entries; one it let through that does not parse allows nothing.
      redirects = [];
    }
    const known: Known = { ...entry, redirects };
    this.#byId.set(entry.id, known);
    this.#byPublishable.set(entry.publishable_key, known);
    if (entry.secret_key_hash) this.#bySecretHash.set(entry.secret_key_hash, known);
  }

  remove(id: string): void {
    const old = this.#byId.get(id);
    if (!old) return;
    this.#byId.delete(id);
    this.#byPublishable.delete(old.publishable_key);
    if (old.secret_key_hash) this.#bySecretHash.delete(old.secret_key_hash);
  }

  /**
   * The project an `X-API-Key` value names: a publishable key names it, a
   * secret key names it and acts as its admin. Undefined for a user API key
   * (it names its own project, found when the key is verified). Throws
   * `unauthorized` for a project key this gateway does not know.
   */
  named(key: string): NamedProject | undefined {
    if (key.startsWith('pk_')) {
      const known = this.#byPublishable.get(key);
      if (!known) throw unknownKey();
      return { id: known.id, secretKey: false, named: true };
    }
    if (key.startsWith('sk_')) {
      const known = this.#bySecretHash.get(apiKeyHash(key));
      if (!known) throw unknownKey();
      return { id: known.id, secretKey: true, named: true };
    }
    return undefined;
  }

  /** The publishable key of a project other than the default one (links to the confirm page name it). */
  publishableKeyOf(projectId: string): string | undefined {
    return projectId === DEFAULT_PROJECT_ID ? undefined : this.#byId.get(projectId)?.publishable_key;
  }

  /** The project's settings (none known: the instance's rules). */
  settingsOf(projectId: string): ProjectSettings {
    return this.#byId.get(projectId)?.settings ?? {};
  }

  /** Where the project's emailed links and redirects may lead: its own list, else REDIRECT_ALLOWLIST. */
  redirectsOf(projectId: string): readonly AllowedPrefix[] {
    return this.#byId.get(projectId)?.redirects ?? this.#instanceRedirects;
  }

  /** The lifetimes to ask the session service for (it cuts them to the instance's). */
  lifetimesOf(projectId: string): { access_ttl?: number; refresh_ttl?: number } {
    const { access_token_ttl, refresh_token_ttl } = this.settingsOf(projectId);
    return {
      ...(access_token_ttl !== undefined ? { access_ttl: access_token_ttl } : {}),
      ...(refresh_token_ttl !== undefined ? { refresh_ttl: refresh_token_ttl } : {}),
    };
  }

  /** Throws 403 `forbidden` when the project turned `method` off (no list: every method is on). */
  requireMethod(projectId: string, method: ProjectSignInMethod): void {
    const methods = this.settingsOf(projectId).sign_in_methods;
    if (methods && !methods.includes(method)) {
      throw new AppError('forbidden', `${method.replace('_', ' ')} sign-in is turned off for this project`);
    }
  }

  get size(): number {
    return this.#byId.size;
  }
}

/** The default project, named by omission. */
export const DEFAULT_PROJECT: NamedProject = { id: DEFAULT_PROJECT_ID, secretKey: false, named: false };

declare module 'fastify' {
  interface FastifyRequest {
    /** The project the request names (`X-API-Key: pk_...` or `sk_...`), else the default one. */
    project: NamedProject;
  }
}

/**
 * Names the request's project (the gateway's onRequest hook calls it for
 * every request). No header (the hot path): the default project, a constant.
 * A publishable or secret key: a Map read; an unknown one is the error to
 * answer, 401, before any route runs.
 */
export function nameProject(request: FastifyRequest, directory: ProjectDirectory): Error | undefined {
  const header = request.headers['x-api-key'];
  if (header === undefined) {
    request.project = DEFAULT_PROJECT;
    return undefined;
  }
  try {
    request.project = (typeof header === 'string' ? directory.named(header.trim()) : undefined) ?? DEFAULT_PROJECT;
    return undefined;
  } catch (err) {
    request.project = DEFAULT_PROJECT;
    return err as Error;
  }
}

/** The project a request acts in: its caller's, once authenticated, else the one it names. */
export function projectOf(request: FastifyRequest): string {
  return request.auth?.projectId ?? request.project.id;
}
