import { AppError, EDGE_JSON_LIMITS, findJsonProblem } from '@gatehouse/kit';
import type { FastifyInstance } from 'fastify';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Replaces Fastify's JSON body parser with one that refuses, before any route
 * or schema sees the body: bytes that are not UTF-8 (400 `invalid_json`,
 * rather than U+FFFD stored in their place), and any value that breaks the
 * edge limits: nesting, key and value counts, and strings (keys included)
 * holding U+0000, other control characters or lone surrogates (400
 * `validation_failed` naming the field). Every route is covered, including
 * those added later, since none parses its own body.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  // Fastify's own parser (prototype poisoning refused) does the parsing.
  const parseJson = app.getDefaultJsonParser('error', 'ignore');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, raw, done) => {
    let text: string;
    try {
      text = utf8.decode(raw as Buffer);
    } catch {
      done(new AppError('invalid_json', 'the request body is not valid UTF-8'), undefined);
      return;
    }
    parseJson(request, text, (err, body) => {
      if (err) return done(err, undefined);
      const problem = findJsonProblem(body, EDGE_JSON_LIMITS);
      if (problem)
        return done(new AppError('validation_failed', 'the request is invalid', { details: [problem] }), undefined);
      done(null, body);
    });
  });
}
