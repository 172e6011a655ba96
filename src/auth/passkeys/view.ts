import type { PasskeysTable } from '../../db/types.js';

/** A passkey as its owner sees it: never its key or credential ID. */
export interface PasskeyView {
  id: string;
  name: string;
  transports: string[];
  aaguid: string;
  backedUp: boolean;
  createdAt: number;
  lastUsedAt: number | null;
}

export const passkeyView = (r: PasskeysTable): PasskeyView => ({
  id: r.id,
  name: r.name,
  transports: r.transports ? (JSON.parse(r.transports) as string[]) : [],
  aaguid: r.aaguid,
  backedUp: r.backed_up === 1,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
});
