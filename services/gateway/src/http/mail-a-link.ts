import { requireEmail } from '@gatehouse/kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayContext } from '../gateway-context.ts';
import { projectOf } from '../projects/project-directory.ts';
import { answerNoSoonerThan } from './answer-floor.ts';
import { checkedRedirect } from './redirects.ts';

/**
 * The handler of a route that mails a link to an address (`password/forgot`,
 * `magic-link`): the same answer (202 {}) for every address, known or not, no
 * sooner than the answer floor, after the per-IP and per-address limits.
 */
export function mailsALink(ctx: GatewayContext, subject: 'identity.password.forgot' | 'identity.magic_link.send') {
  return async (
    request: FastifyRequest<{ Body: { email: string; redirect_to?: string | undefined } }>,
    reply: FastifyReply,
  ) => {
    const startedAt = performance.now();
    const projectId = projectOf(request);
    if (subject === 'identity.magic_link.send') ctx.projects.requireMethod(projectId, 'magic_link');
    // One spelling per mailbox (NFC, lower case, one form of the domain), so one budget per mailbox;
    // an address no mail library would deliver to exactly one mailbox is 400 here.
    const email = requireEmail(request.body.email);
    const redirectTo = checkedRedirect(request.body.redirect_to, ctx.projects.redirectsOf(projectId));
    await ctx.limits.hitIp(request.ip);
    await ctx.limits.hitMail(projectId, email);
    await ctx
      .busFor(request)
      .request(subject, { project_id: projectId, email, ...(redirectTo ? { redirect_to: redirectTo } : {}) });
    await answerNoSoonerThan(startedAt);
    return reply.code(202).send({});
  };
}
