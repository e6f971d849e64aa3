import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type MailJob, MailTemplateName } from '@gatehouse/contracts';
import Mustache from 'mustache';

/** Every template name of the contract, read off its schema so a new name cannot be forgotten. */
export const TEMPLATE_NAMES: readonly MailTemplateName[] = MailTemplateName.anyOf.map((s) => s.const);

/**
 * The built-in templates: `services/mailer/templates/<name>/` from the sources, `templates/<name>/`
 * beside a bundle (infra/scripts/build.mjs copies them there).
 */
export const BUILTIN_TEMPLATES_DIR = existsSync(resolve(import.meta.dirname, 'templates/verify_email'))
  ? resolve(import.meta.dirname, 'templates')
  : resolve(import.meta.dirname, '../../templates');

const PARTS = ['subject.txt', 'body.html', 'body.txt'] as const;
type Part = (typeof PARTS)[number];

export interface RenderedMail {
  subject: string;
  html: string;
  text: string;
}

export interface Renderer {
  /** Renders the job's template with its variables; throws on an unreadable or malformed override. */
  render(job: MailJob): Promise<RenderedMail>;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * HTML-escapes a variable for body.html. The five characters that matter in
 * text and in quoted attributes (every attribute of the templates is quoted);
 * unlike Mustache's default it leaves `/` and `=` alone, so a link stays
 * readable in the source a mail client shows and a scanner checks.
 */
const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
const verbatim = (value: string) => value;

/**
 * Loads the built-in templates (all of them, or it throws: better to fail at
 * start than on the first mail) and renders with Mustache: variables are
 * HTML-escaped in body.html only; subject and text are plain text. A missing
 * variable renders empty.
 *
 * `overrideDir` (MAIL_TEMPLATES_DIR) is read at render time, one file at a
 * time: `<dir>/<name>/body.html` replaces just that file, and an edit takes
 * effect on the next mail without a restart.
 */
export async function createRenderer(options: {
  overrideDir?: string | undefined;
  builtinDir?: string;
  defaults: { app_name: string; public_url: string };
}): Promise<Renderer> {
  const builtinDir = options.builtinDir ?? BUILTIN_TEMPLATES_DIR;
  const builtin = new Map<string, string>();
  for (const name of TEMPLATE_NAMES)
    for (const part of PARTS) builtin.set(`${name}/${part}`, await readFile(join(builtinDir, name, part), 'utf8'));

  const source = async (name: MailTemplateName, part: Part): Promise<string> => {
    if (options.overrideDir) {
      try {
        return await readFile(join(options.overrideDir, name, part), 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return builtin.get(`${name}/${part}`) as string;
  };

  return {
    async render(job) {
      // A null-prototype view: `{{constructor}}` in a template finds nothing rather than Object's.
      const view: Record<string, string> = Object.assign(
        Object.create(null),
        { ...options.defaults, email: job.to, name: '' },
        job.vars,
      );
      const [subject, html, text] = await Promise.all(PARTS.map((part) => source(job.template, part)));
      return {
        // A subject is one header line: whatever a variable holds, it never spans two.
        subject: Mustache.render(subject as string, view, {}, { escape: verbatim })
          .replace(/\s+/g, ' ')
          .trim(),
        html: Mustache.render(html as string, view, {}, { escape: escapeHtml }),
        text: Mustache.render(text as string, view, {}, { escape: verbatim }),
      };
    },
  };
}
