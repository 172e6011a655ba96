import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RouteServices as Services } from '../../services.js';
import { ACTIONS, type Action } from '../../access/grants.js';
import type { FilterNode } from '../../collections/filter.js';
import { errorResponses, IdParam } from '../schemas.js';
import { actorContext, powerOf } from '../pipeline/authenticate.js';
import { MENU_KEY, SYSTEM_PERMISSIONS, type SystemPermission } from '../../access/principal.js';
import { AppError } from '../../errors.js';

const RoleName = Type.String({ minLength: 1, maxLength: 41, pattern: '^[a-z][a-z0-9_-]*$' });
const GrantSchema = Type.Object({
  id: Type.String(),
  role: Type.String(),
  collection: Type.String(),
  actions: Type.Array(Type.String()),
  fields: Type.Array(Type.String()),
  statuses: Type.Union([Type.Array(Type.String()), Type.Null()]),
  scope: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
});

const DeptName = RoleName;
const Permissions = Type.Array(Type.Unsafe<SystemPermission>({ type: 'string', enum: [...SYSTEM_PERMISSIONS] }), { maxItems: SYSTEM_PERMISSIONS.length });
const Menus = Type.Array(Type.String({ minLength: 1, maxLength: 200, pattern: MENU_KEY.source }), { maxItems: 200 });
const RoleSchema = Type.Object({
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  permissions: Type.Array(Type.String()),
  menus: Type.Array(Type.String()),
});
const DepartmentSchema = Type.Object({ name: Type.String(), description: Type.Union([Type.String(), Type.Null()]), roles: Type.Array(Type.String()) });
const Description = Type.Union([Type.String({ maxLength: 200 }), Type.Null()]);

/**
 * Roles, departments, role and department assignments, and grants. Roles, departments and grants need
 * roles.manage; assigning them to users needs users.manage. Nobody hands out more than they hold.
 * Changes apply at the next request on this instance, and on the others within the change mark's bound (D453, D454).
 */
export const adminAccessRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const config = { permission: 'roles.manage' as const, keys: true };
    const users = { permission: 'users.manage' as const };
    const tags = ['admin: access'];
    const RoleParam = Type.Object({ name: RoleName }, { additionalProperties: false });

    app.get(
      '/roles',
      {
        config,
        schema: { tags, response: { 200: Type.Object({ roles: Type.Array(RoleSchema) }), ...errorResponses } },
      },
      async () => ({ roles: await s.access.listRoles() }),
    );

    app.post(
      '/roles',
      {
        config,
        schema: {
          tags,
          description:
            'Creates a role with its system permissions and menu (UI page) keys. A non-administrator may give only permissions and menus their own roles carry.',
          body: Type.Object(
            { name: RoleName, description: Type.Optional(Description), permissions: Type.Optional(Permissions), menus: Type.Optional(Menus) },
            { additionalProperties: false },
          ),
          response: { 201: RoleSchema, ...errorResponses },
        },
      },
      async (req, reply) => {
        const role = await s.access.createRole(req.body, await powerOf(req, s), actorContext(req));
        reply.code(201);
        return role;
      },
    );

    app.patch(
      '/roles/:name',
      {
        config,
        schema: {
          tags,
          params: RoleParam,
          body: Type.Object(
            { description: Type.Optional(Description), permissions: Type.Optional(Permissions), menus: Type.Optional(Menus) },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: { 200: RoleSchema, ...errorResponses },
        },
      },
      async (req) => s.access.updateRole(req.params.name, req.body, await powerOf(req, s), actorContext(req)),
    );

    app.delete(
      '/roles/:name',
      {
        config,
        schema: { tags, params: RoleParam, description: 'Deletes a role, its grants and its assignments.', response: { 204: Type.Null(), ...errorResponses } },
      },
      async (req, reply) => {
        await s.access.deleteRole(req.params.name, await powerOf(req, s), actorContext(req));
        reply.code(204);
      },
    );

    app.get(
      '/departments',
      {
        config,
        schema: { tags, response: { 200: Type.Object({ departments: Type.Array(DepartmentSchema) }), ...errorResponses } },
      },
      async () => ({ departments: await s.access.listDepartments() }),
    );

    app.put(
      '/departments/:name',
      {
        config,
        schema: {
          tags,
          params: RoleParam,
          description: 'Creates or replaces a department and the roles it carries: every member holds them.',
          body: Type.Object({ description: Type.Optional(Description), roles: Type.Array(RoleName, { maxItems: 50 }) }, { additionalProperties: false }),
          response: { 200: DepartmentSchema, ...errorResponses },
        },
      },
      async (req) => s.access.putDepartment({ name: req.params.name, ...req.body }, await powerOf(req, s), actorContext(req)),
    );

    app.delete(
      '/departments/:name',
      {
        config,
        schema: { tags, params: RoleParam, response: { 204: Type.Null(), ...errorResponses } },
      },
      async (req, reply) => {
        await s.access.deleteDepartment(req.params.name, await powerOf(req, s), actorContext(req));
        reply.code(204);
      },
    );

    app.get(
      '/users/:id/access',
      {
        config: users,
        schema: {
          tags,
          params: IdParam,
          description: "The user's own roles, departments, every role they hold (with their departments'), and the permissions and menus that gives.",
          response: {
            200: Type.Object({
              roles: Type.Array(Type.String()),
              departments: Type.Array(Type.String()),
              held: Type.Array(Type.String()),
              permissions: Type.Array(Type.String()),
              menus: Type.Array(Type.String()),
            }),
            ...errorResponses,
          },
        },
      },
      async (req) => {
        const user = await s.users.get(req.params.id);
        if (!user) throw new AppError('NOT_FOUND');
        const p = await s.access.principal(user, null);
        return { roles: await s.access.ownRolesOf(user.id), departments: p.departments, held: p.held, permissions: p.permissions, menus: p.menus };
      },
    );

    app.put(
      '/users/:id/roles',
      {
        config: users,
        schema: {
          tags,
          params: IdParam,
          description: "Replaces the user's roles. Nobody changes their own roles or hands out more than they hold.",
          body: Type.Object({ roles: Type.Array(RoleName, { maxItems: 50 }) }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        await s.access.setUserRoles(req.params.id, req.body.roles, await powerOf(req, s), actorContext(req));
        reply.code(204);
      },
    );

    app.put(
      '/users/:id/departments',
      {
        config: users,
        schema: {
          tags,
          params: IdParam,
          description: "Replaces the user's departments (and so the roles they carry). Nobody changes their own.",
          body: Type.Object({ departments: Type.Array(DeptName, { maxItems: 50 }) }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (req, reply) => {
        await s.access.setUserDepartments(req.params.id, req.body.departments, await powerOf(req, s), actorContext(req));
        reply.code(204);
      },
    );

    app.get(
      '/grants',
      {
        config,
        schema: {
          tags,
          querystring: Type.Object({ collection: Type.Optional(Type.String({ maxLength: 41 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ grants: Type.Array(GrantSchema) }), ...errorResponses },
        },
      },
      async (req) => ({ grants: await s.access.listGrants(req.query.collection) }),
    );

    app.post(
      '/grants',
      {
        config,
        schema: {
          tags,
          description:
            'Adds a grant: role, collection, actions, fields (names or block:<name>), optional statuses and a scope filter with $user.id, $user.roles, $user.department, $now. Grants add up; no grant means no access. A non-administrator may add only a grant that one of their own grants covers, to a role that gives no more than they hold.',
          body: Type.Object(
            {
              role: RoleName,
              collection: Type.String({ maxLength: 41 }),
              actions: Type.Array(Type.Unsafe<Action>({ type: 'string', enum: [...ACTIONS] }), { minItems: 1, maxItems: 6 }),
              fields: Type.Array(Type.String({ maxLength: 60 }), { maxItems: 200 }),
              statuses: Type.Optional(Type.Union([Type.Array(Type.String({ maxLength: 40 }), { maxItems: 100 }), Type.Null()])),
              scope: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
            },
            { additionalProperties: false },
          ),
          response: { 201: GrantSchema, ...errorResponses },
        },
      },
      async (req, reply) => {
        const g = await s.access.addGrant({ ...req.body, scope: (req.body.scope ?? null) as FilterNode | null }, await powerOf(req, s), actorContext(req));
        reply.code(201);
        return g;
      },
    );

    app.delete(
      '/grants/:id',
      {
        config,
        schema: { tags, params: IdParam, response: { 204: Type.Null(), ...errorResponses } },
      },
      async (req, reply) => {
        await s.access.deleteGrant(req.params.id, await powerOf(req, s), actorContext(req));
        reply.code(204);
      },
    );
  };

/** GET /api/access/explain (administrators). */
export const accessExplainRoutes =
  (s: Services): FastifyPluginAsync =>
  async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    // Administrators only: it answers whether any record id exists and which scopes hold for anyone.
    const config = { auth: 'admin' as const };
    const tags = ['admin: access'];
    app.get(
      '/explain',
      {
        config,
        schema: {
          tags,
          description:
            'Which grants let a user see or change which fields of a record, action by action, and whether each holds for that record. Without `recordId`: the grants and their fields, with `holds: null`.',
          querystring: Type.Object(
            {
              userId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
              collection: Type.String({ pattern: '^[a-z][a-z0-9_]{0,40}$' }),
              recordId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Record(Type.String(), Type.Unknown()), ...errorResponses },
        },
      },
      async (req) => {
        const user = await s.users.get(req.query.userId);
        if (!user) throw new AppError('NOT_FOUND');
        const p = await s.access.principal(user, null);
        return s.records.explain(user, p.held, p.departments, req.query.collection, req.query.recordId);
      },
    );
  };
