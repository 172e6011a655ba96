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
  /** With must_change_password: when the one-time password stops signing in (ASVS V6.4.1); null: it does not expire. */
  must_change_by: number | null;
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
  /** A session opened by single sign-on: the provider's slug, the subject it named, its own session id (OIDC `sid`, SAML SessionIndex). */
  sso_provider: string | null;
  sso_subject: string | null;
  sso_sid: string | null;
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
  /** Its place in the audit chain (null for events written before the chain began). */
  seq: number | null;
}

/** The audit chain's spine: one row per audit entry of any table (AUDIT-6). */
export interface AuditChainTable {
  seq: number;
  kind: string;
  at: number;
  digest: string;
  hash: string;
}

export interface AuditChainHeadTable {
  id: number;
  seq: number;
  hash: string;
  /** Security events written before the chain existed, and their highest id (bound into the first hash). */
  unchained_count: number;
  unchained_max_id: number;
}

/** Change, access, status and system entries of the record audit log (AUDIT-3). */
export interface AuditLogTable {
  seq: number;
  at: number;
  kind: string;
  collection: string | null;
  record_id: string | null;
  operation: string;
  actor_id: string | null;
  actor_name: string | null;
  via: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  data: string | null;
  /** The salt of the record's audit key (D459), on its first change entry; outside the chain's digest; null once erased. */
  key_salt: string | null;
}

export interface AuditPruneTable {
  kind: string;
  before_at: number;
}

export interface AuditSubjectKeysTable {
  subject: string;
  sealed: string;
  created_at: number;
}

export interface AuditCheckpointsTable {
  seq: number;
  hash: string;
  at: number;
  signature: string;
}

export interface RecordRevisionsTable {
  id: string;
  collection: string;
  record_id: string;
  rev: number;
  at: number;
  operation: string;
  actor_id: string | null;
  actor_name: string | null;
  data: string;
}

export interface SharedKvTable {
  key: string;
  count: number;
  value: string | null;
  expires_at: number;
}

/** One row (id 1) of version stamps, moved by triggers with every change to what instances cache (D360). */
export interface StateStampsTable {
  id: number;
  access: number;
  settings: number;
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

/** AUTH-12: a TOTP factor; the secret only encrypted (AES-256-GCM under a key derived from APP_KEY). */
export interface MfaTotpTable {
  user_id: string;
  secret_nonce: string;
  secret_ciphertext: string;
  created_at: number;
  /** null: enrolment started, not yet confirmed with a first code (not a factor yet). */
  confirmed_at: number | null;
  /** The last time step accepted: a code of it or an earlier step is refused (single use). */
  last_step: number | null;
}

/** AUTH-12: the email factor is on for this user. */
export interface MfaEmailTable {
  user_id: string;
  enabled_at: number;
}

/** AUTH-12: a recovery code, only its SHA-256 kept. */
export interface MfaRecoveryCodesTable {
  id: string;
  user_id: string;
  code_hash: string;
  created_at: number;
  used_at: number | null;
}

/** AUTH-12: an emailed one-time code, kept as a keyed hash; a newer code of the same purpose replaces it. */
export interface MfaEmailCodesTable {
  id: string;
  user_id: string;
  /** Emailed codes: signin, enable; SMS codes: sms_signin, sms_enable (bound to the phone's enrolment). */
  purpose: 'signin' | 'enable' | 'sms_signin' | 'sms_enable';
  /** The sign-in challenge the code belongs to (purpose signin). */
  challenge_id: string | null;
  code_hash: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

/** AUTH-12: the phone number SMS codes go to, sealed; a factor once confirmed with a first code. */
export interface MfaSmsTable {
  user_id: string;
  /** The E.164 number sealed under the MFA key (AAD `sms:<user id>`); the nonce also names this enrolment. */
  phone_nonce: string;
  phone_ciphertext: string;
  /** The masked number shown back, `+45******78`. */
  phone_hint: string;
  created_at: number;
  /** null: a code was sent, not yet entered back (not a factor yet). */
  confirmed_at: number | null;
}

/** AUTH-12, IP as a factor: an address adaptive trust counts for a user (IPv6 by its /64), within a window from `first_at`. */
export interface MfaTrustedAddressesTable {
  id: string;
  user_id: string;
  ip: string;
  /** Full sign-ins (second factor proven) from the address since `first_at`. */
  successes: number;
  first_at: number;
  last_at: number;
}

/** AUTH-12: a sign-in challenge (second step) or an enrolment-only token, bound to the user and the sign-in's mode. */
export interface MfaChallengesTable {
  id: string;
  user_id: string;
  kind: 'signin' | 'enrol';
  verifier_hash: string;
  mode: 'cookie' | 'bearer';
  remember: number;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  /** JSON of the first step's method when it was not a password (a single sign-on); null: a password. */
  first_method: string | null;
}

/** AUTH-12: a passkey (WebAuthn credential); only its public key is kept. */
export interface PasskeysTable {
  id: string;
  user_id: string;
  /** The credential ID, base64url. */
  credential_id: string;
  /** The COSE public key, base64url. */
  public_key: string;
  /** The authenticator's signature counter at its last use (0: it keeps none). */
  counter: number;
  /** JSON array of transports the browser reported (usb, internal, hybrid...). */
  transports: string | null;
  name: string;
  /** The authenticator model's AAGUID (all zeros when it tells none). */
  aaguid: string;
  /** 1: a synced (multi-device) credential backed up by its provider. */
  backed_up: number;
  created_at: number;
  last_used_at: number | null;
  last_used_ip: string | null;
}

/** AUTH-12: a WebAuthn ceremony's challenge, single use; bound to a user except for a passwordless sign-in. */
export interface PasskeyChallengesTable {
  /** The challenge itself, base64url (32 random bytes). */
  challenge: string;
  purpose: 'register' | 'signin' | 'second_factor';
  user_id: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface Database {
  api_keys: ApiKeysTable;
  users: UsersTable;
  sessions: SessionsTable;
  token_renewals: TokenRenewalsTable;
  signing_keys: SigningKeysTable;
  settings: SettingsTable;
  security_events: SecurityEventsTable;
  audit_chain: AuditChainTable;
  audit_chain_head: AuditChainHeadTable;
  audit_log: AuditLogTable;
  audit_prune: AuditPruneTable;
  audit_subject_keys: AuditSubjectKeysTable;
  audit_checkpoints: AuditCheckpointsTable;
  record_revisions: RecordRevisionsTable;
  shared_kv: SharedKvTable;
  account_locks: AccountLocksTable;
  state_stamps: StateStampsTable;
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
  mfa_totp: MfaTotpTable;
  mfa_email: MfaEmailTable;
  mfa_recovery_codes: MfaRecoveryCodesTable;
  mfa_email_codes: MfaEmailCodesTable;
  mfa_challenges: MfaChallengesTable;
  mfa_sms: MfaSmsTable;
  mfa_trusted_addresses: MfaTrustedAddressesTable;
  passkeys: PasskeysTable;
  passkey_challenges: PasskeyChallengesTable;
}

/** GDPR policies (AUDIT-5): a rule per collection that deletes or anonymises the records it matches. */
export interface PrivacyPoliciesTable {
  id: string;
  collection: string;
  name: string;
  /** 'delete' | 'anonymise' */
  action: string;
  /** JSON: { filter?, olderThan?: {field, seconds}, status?: {field, in} } */
  rule: string;
  /** JSON: per field, how it is anonymised ({kind: 'null' | 'fixed' | 'hash' | 'fake'}). */
  field_values: string;
  purge_history: number;
  schedule_enabled: number;
  /** Seconds between scheduled runs. */
  schedule_every: number | null;
  next_run_at: number | null;
  /** The lease of a run in progress (one run of a policy at a time, across instances). */
  running_until: number | null;
  last_run_at: number | null;
  /** JSON: the last run's counts, or its error code. */
  last_result: string | null;
  created_at: number;
  updated_at: number;
  created_by: string | null;
  updated_by: string | null;
}

/** Records an anonymisation handled, and when (re-eligible once changed after it). */
export interface PrivacyAnonymisedTable {
  collection: string;
  record_id: string;
  at: number;
}

export interface Database {
  privacy_policies: PrivacyPoliciesTable;
  privacy_anonymised: PrivacyAnonymisedTable;
}

/** DATA-1: named third-party secrets, encrypted under the data key `key_id` names (src/secrets/). */
/** The id of the data key new secrets are sealed under (one row, id 1): moved by rotation in its transaction (D206). */
export interface SecretsKeyTable {
  id: number;
  key_id: string;
  updated_at: number;
}

export interface SecretsTable {
  name: string;
  /** `<iv>.<ciphertext>.<tag>`, base64url: AES-256-GCM with the name as associated data. */
  ciphertext: string;
  key_id: string;
  created_at: number;
  created_by: string | null;
  created_by_name: string;
  updated_at: number;
  updated_by: string | null;
  updated_by_name: string;
}

export interface Database {
  secrets: SecretsTable;
  secrets_key: SecretsKeyTable;
}

/** DATA-3: one stored file version (src/files/); the bytes are in the file store under `id`. */
export type FileState = 'quarantined' | 'clean' | 'infected' | 'unscanned';
export interface FilesTable {
  id: string;
  collection: string;
  field: string;
  record_id: string;
  version: number;
  /** 1: shown by the record's field now; 0: a kept version. */
  current: number;
  name: string;
  /** The MIME type recognised from the bytes. */
  type: string;
  size: number;
  sha256: string;
  state: FileState;
  /** The scanner's signature name of an infected file. */
  signature: string | null;
  uploaded_by: string | null;
  uploaded_at: number;
  scanned_at: number | null;
  /** Scans of this file that failed while the scanner answered; the sweep waits until `next_scan_at`. */
  scan_attempts: number;
  next_scan_at: number | null;
}

export interface Database {
  files: FilesTable;
}

/** AUTH-13: an identity provider (src/auth/sso/); JSON columns hold arrays or the protocol's settings, never a secret. */
export interface IdentityProvidersTable {
  slug: string;
  type: string;
  display_name: string;
  enabled: number;
  /** JSON: the protocol's settings (OIDC: issuer, clientId, clientSecretName, scopes, claims...). */
  settings: string;
  /** 'jit' | 'existing' */
  provisioning: string;
  default_roles: string;
  default_departments: string;
  /** JSON: [{ claim, value, roles, departments }] */
  mappings: string;
  email_domains: string;
  trust_email: number;
  trust_mfa: number;
  created_at: number;
  updated_at: number;
}

/** A provider identity (issuer + subject) linked to a user; what the provider's mapping last granted. */
export interface SsoLinksTable {
  provider: string;
  subject: string;
  user_id: string;
  issuer: string;
  email: string | null;
  mapped_roles: string;
  mapped_departments: string;
  /** 'admin' | 'user' | 'verified_email' | 'jit' */
  linked_by: string;
  created_at: number;
  last_used_at: number | null;
}

/** A sign-in or link flow in progress: `id` is the SHA-256 of the state; spent once. */
export interface SsoFlowsTable {
  id: string;
  provider: string;
  /** 'signin' | 'link' */
  purpose: string;
  user_id: string | null;
  /** A link flow's session: the link is made only while it is live (D290). */
  session_id: string | null;
  binding_hash: string;
  nonce: string;
  code_verifier: string;
  return_to: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

/** A SAML assertion already used (0019): `id` is the SHA-256 of the provider and the assertion's ID; kept until it expires. */
export interface SsoAssertionsTable {
  id: string;
  provider: string;
  expires_at: number;
  created_at: number;
}

export interface Database {
  identity_providers: IdentityProvidersTable;
  sso_links: SsoLinksTable;
  sso_flows: SsoFlowsTable;
  sso_assertions: SsoAssertionsTable;
}

/** AUTH-13, Palisade as an OpenID Provider: a client registered by an administrator (0020). */
export interface OidcClientsTable {
  client_id: string;
  name: string;
  /** JSON array of exact redirect URIs. */
  redirect_uris: string;
  confidential: number;
  /** The secret store's name of a confidential client's secret; null for a public client. */
  secret_name: string | null;
  /** JSON array of the scopes the client may ask for. */
  scopes: string;
  consent_required: number;
  enabled: number;
  created_at: number;
  updated_at: number;
  secret_rotated_at: number | null;
}

/** What oidc-provider keeps between requests (codes, sessions, grants, interactions, tokens), shared by every instance (0020). */
export interface OidcProviderModelsTable {
  model: string;
  id: string;
  payload: string;
  grant_id: string | null;
  /** The client the row belongs to: its codes, tokens and grants end with it. */
  client_id: string | null;
  /** The account the row belongs to (a grant: a person's consent to a client, D434). */
  account_id: string | null;
  uid: string | null;
  user_code: string | null;
  /** Epoch ms; null: no expiry. */
  expires_at: number | null;
  consumed_at: number | null;
}

export interface Database {
  oidc_clients: OidcClientsTable;
  oidc_provider_models: OidcProviderModelsTable;
}
