import type { Env } from '../config/env.js';
import type { ConfigSection } from '../config/index.js';

/** Encrypted API bodies (EDGE-6): refused, accepted when a client opts in, or required of every API request. */
export type TransportMode = 'off' | 'optional' | 'required';

export interface TransportConfig {
  readonly transportEncryption: TransportMode;
}

const MODES: readonly TransportMode[] = ['off', 'optional', 'required'];

/** TRANSPORT_ENCRYPTION (EDGE-6, docs/edge.md "Encrypted API bodies"). Unset: `optional`. */
export const transportEnv: ConfigSection<TransportConfig> = {
  read(env: Env, problems: string[], warnings: string[]): TransportConfig {
    const raw = (env.TRANSPORT_ENCRYPTION ?? '').trim().toLowerCase();
    if (raw === '') return { transportEncryption: 'optional' };
    const mode = MODES.find((m) => m === raw);
    if (mode === undefined) {
      problems.push('TRANSPORT_ENCRYPTION must be off, optional or required');
      return { transportEncryption: 'optional' };
    }
    if (mode === 'required' && env.CORS_ORIGINS !== undefined && env.CORS_ORIGINS.trim() !== '') {
      warnings.push(
        'TRANSPORT_ENCRYPTION=required with CORS_ORIGINS: the listed apps must speak the protocol (docs/edge.md) or every call of theirs is refused',
      );
    }
    return { transportEncryption: mode };
  },
};
