import type { Generated } from 'kysely';

/** Times are epoch milliseconds; booleans are 0/1 integers on both dialects. */
export interface UsersTable {
  id: string;
  username: string;
  email: string | null;
  password_hash: string | null;
  status: 'active' | 'disabled';
  is_admin: number;
  created_at: number;
  updated_at: number;
  password_changed_at: number | null;
  /** 1: the next sign-in must change the password first (AUTH-7). */
  must_change_password: number;
  /** 1: signs in only through single sign-on; no local password, no password policy. */
  sso_only: number;
  /** Last expiry reminder mail, so that it goes at most once a day. */
  password_reminded_at: number | null;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  mode: 'cookie' | 'bearer';
  remember: number;
  created_at: number;
  expires_at: number;
  last_seen_at: number;
  ip: string;
  user_agent: string;
  revoked_at: number | null;
  revoked_reason: string | null;
  /** The role the session acts with; null: the union of the user's roles. */
  active_role: string | null;
}

export interface TokenRenewalsTable {
  jti: string;
  session_id: string;
  new_jti: string;
  new_iat: number;
  new_exp: number;
  kid: string;
  created_at: number;
  expires_at: number;
}

export interface SigningKeysTable {
  kid: string;
  created_at: number;
  retired_at: number | null;
}

export interface SettingsTable {
  key: string;
  value: string;
  updated_at: number;
  updated_by: string | null;
}

export interface SecurityEventsTable {
  id: Generated<number>;
  at: number;
  type: string;
  outcome: 'success' | 'failure' | 'info';
  actor_id: string | null;
  actor_name: string | null;
  subject_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details: string | null;
}

export interface SharedKvTable {
  key: string;
  count: number;
  value: string | null;
  expires_at: number;
}

export interface AccountLocksTable {
  user_id: string;
  locked_at: number;
  /** null: until an administrator unlocks. */
  locked_until: number | null;
  reason: string;
  locked_by: string | null;
}

export interface IpRulesTable {
  id: string;
  action: 'allow' | 'block';
  /** Normalised CIDR, e.g. 203.0.113.0/24 or 2001:db8::/32. */
  cidr: string;
  scope: 'all' | 'admin';
  note: string | null;
  created_at: number;
  created_by: string | null;
}

/** Previous password hashes (AUTH-7 history), newest id last. */
export interface PasswordHistoryTable {
  id: Generated<number>;
  user_id: string;
  hash: string;
  created_at: number;
}

/** Single-use password links (AUTH-8): only a SHA-256 of the secret part is stored. */
export interface PasswordTokensTable {
  /** The public selector, the part before the dot. */
  id: string;
  user_id: string;
  kind: 'reset' | 'admin_reset' | 'invitation' | 'change';
  verifier_hash: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  /** Set when a newer link, or a new password, made this one stop working. */
  revoked_at: number | null;
  created_by: string | null;
}

/** Forgot-password requests per client IP, for the throttle. */
export interface PasswordResetRequestsTable {
  id: Generated<number>;
  ip: string;
  at: number;
}

export interface CollectionsTable {
  name: string;
  /** The CollectionDef as JSON. */
  definition: string;
  created_at: number;
  updated_at: number;
}

export interface RolesTable {
  name: string;
  description: string | null;
  created_at: number;
  /** JSON list of system permissions. */
  permissions: string;
  /** JSON list of UI page keys. */
  menus: string;
}

export interface UserRolesTable {
  user_id: string;
  role: string;
}

export interface GrantsTable {
  id: string;
  role: string;
  collection: string;
  /** JSON list of actions. */
  actions: string;
  /** JSON list of field names and `block:<name>` entries. */
  fields: string;
  /** JSON list of status values, or null for any. */
  statuses: string | null;
  /** JSON scope filter, or null for every row. */
  scope: string | null;
  created_at: number;
}

export interface DepartmentsTable {
  name: string;
  description: string | null;
  created_at: number;
}

export interface DepartmentRolesTable {
  department: string;
  role: string;
}

export interface UserDepartmentsTable {
  user_id: string;
  department: string;
}

/** AUTH-11: an API key; the secret itself is never stored, only its SHA-256. */
export interface ApiKeysTable {
  id: string;
  user_id: string;
  name: string;
  key_hash: string;
  /** The last four characters of the key, to tell keys apart in lists. */
  hint: string;
  role: string;
  read_only: number;
  /** JSON array of CIDR ranges the key may be used from; null: anywhere. */
  ip_allow: string | null;
  created_at: number;
  created_by: string | null;
  /** null: never expires (only where the setting allows it). */
  expires_at: number | null;
  last_used_at: number | null;
  last_used_ip: string | null;
  revoked_at: number | null;
  revoked_reason: string | null;
  /** The key this one replaced by rotation. */
  rotated_from: string | null;
}

export interface Database {
  api_keys: ApiKeysTable;
  users: UsersTable;
  sessions: SessionsTable;
  token_renewals: TokenRenewalsTable;
  signing_keys: SigningKeysTable;
  settings: SettingsTable;
  security_events: SecurityEventsTable;
  shared_kv: SharedKvTable;
  account_locks: AccountLocksTable;
  ip_rules: IpRulesTable;
  collections: CollectionsTable;
  roles: RolesTable;
  user_roles: UserRolesTable;
  grants: GrantsTable;
  departments: DepartmentsTable;
  department_roles: DepartmentRolesTable;
  user_departments: UserDepartmentsTable;
  password_history: PasswordHistoryTable;
  password_tokens: PasswordTokensTable;
  password_reset_requests: PasswordResetRequestsTable;
}
