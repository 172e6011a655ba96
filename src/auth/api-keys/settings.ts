import Type, { type Static } from 'typebox';
import { boolEnv, defineSettingsArea, durationEnv } from '../../config/settings-area.js';

const DAY = 86400;

/** API keys (AUTH-11) and HTTP basic authentication (AUTH-14); durations in seconds. */
export const ApiKeySettingsSchema = Type.Object({
  maxLifetime: Type.Integer({
    minimum: 3600,
    maximum: 5 * 365 * DAY,
    default: 90 * DAY,
    description: 'The longest a key may live; a key asked for without an expiry gets this one.',
  }),
  allowNever: Type.Boolean({ default: false, description: 'true: keys may be created that never expire (listed as a warning by `palisade doctor`).' }),
  selfService: Type.Boolean({
    default: false,
    description: 'true: every user may create keys for themselves; false: only holders of the apikeys.manage permission.',
  }),
  rotationGrace: Type.Integer({
    minimum: 0,
    maximum: 30 * DAY,
    default: DAY,
    description: 'How long a rotated key keeps working beside its replacement, at most.',
  }),
  basicAuth: Type.Boolean({
    default: false,
    description:
      'true: API clients may send `Authorization: Basic` (username and password) on each request, over HTTPS or from loopback only; counted by the lockout and the sign-in rate limit.',
  }),
});
export type ApiKeySettings = Static<typeof ApiKeySettingsSchema>;

export const apiKeyArea = defineSettingsArea({
  key: 'apiKeys',
  label: 'API keys',
  schema: ApiKeySettingsSchema,
  env: [
    durationEnv('API_KEY_MAX_LIFETIME', 'maxLifetime'),
    boolEnv('API_KEY_ALLOW_NEVER', 'allowNever'),
    boolEnv('API_KEY_SELF_SERVICE', 'selfService'),
    durationEnv('API_KEY_ROTATION_GRACE', 'rotationGrace'),
    boolEnv('BASIC_AUTH', 'basicAuth'),
  ],
});
