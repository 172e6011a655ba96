import type { Services } from '../services.js';
import { SETTINGS_AREAS, settingsSeeds } from '../app-config.js';
import { createSealer } from '../config/seal.js';
import { ConfigTransfer } from './index.js';

const made = new WeakMap<Services, ConfigTransfer>();

/** The configuration transfer of a set of services (one each), for the HTTP routes and the CLI. */
export function configTransferOf(s: Services): ConfigTransfer {
  let t = made.get(s);
  if (!t) {
    t = new ConfigTransfer({
      // An import changes the schema in its one transaction: the DDL role's connection (D376).
      db: s.ddl,
      now: s.now,
      securityLog: s.securityLog,
      collections: s.collections,
      access: s.access,
      settings: s.settings,
      areas: SETTINGS_AREAS,
      settingsSeeds: settingsSeeds(s.config),
      sealer: createSealer(s.config.appKey),
      secrets: s.secrets,
      outbound: s.config.outbound,
      committed: () => {
        s.ipRules.invalidate();
        s.settings.forget();
      },
      // The system log line of every settings change, as the shared store writes it (services.ts).
      onSettingsChange: (c) =>
        s.logger.info({ event: 'system.settings_changed', area: c.area, keys: c.keys, actorId: c.actorId, audited: c.audited }, 'settings changed'),
    });
    made.set(s, t);
  }
  return t;
}
