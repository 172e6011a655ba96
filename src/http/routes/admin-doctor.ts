import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import { errorResponses } from '../schemas.js';

const Status = Type.Union([Type.Literal('pass'), Type.Literal('warn'), Type.Literal('fail')]);

/** GET /api/admin/doctor: the deployment checked against the pre-deployment checklist (OPS-2); administrators only. */
export const adminDoctorRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    app.get(
      '/doctor',
      {
        config: { auth: 'admin', rateLimit: 'export' },
        schema: {
          tags: ['admin: operations'],
          description:
            'Runs every deployment check (`palisade doctor`): each with pass, warn or fail, what was found and how to fix it. `worst` is the worst status; the CLI exits 0, 1 or 2 by it. Reads only; never shows a secret.',
          querystring: Type.Object({}, { additionalProperties: false }),
          response: {
            200: Type.Object({
              worst: Status,
              checks: Type.Array(Type.Object({ id: Type.String(), title: Type.String(), status: Status, detail: Type.String(), fix: Type.String() })),
            }),
            ...errorResponses,
          },
        },
      },
      async () => {
        const r = await s.doctor.run();
        return { worst: r.worst, checks: r.checks };
      },
    );
  };
