import type { FastifyRequest } from 'fastify';

/**
 * preValidation of a route whose body may be left out: no body counts as `{}`,
 * so the route's (strict) body schema still refuses any field it does not name.
 */
export async function optionalBody(request: FastifyRequest): Promise<void> {
  request.body ??= {};
}
