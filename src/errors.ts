/**
 * The one registry of error codes, a leaf: this module imports nothing, and every part (config, db,
 * shared state, auth, access, records, edge, HTTP) may throw its errors. Each code has its status and a
 * message safe for any client; internal detail goes to the log, never here. docs/errors.md mirrors the
 * registry and a test checks they agree. HTTP turns an error into a response (src/http/errors.ts).
 */
export const ERRORS = Object.freeze({
  BAD_REQUEST: { status: 400, message: 'The request is malformed.' },
  URL_INVALID: { status: 400, message: 'The request URL is malformed.' },
  URL_TOO_LONG: { status: 414, message: 'A part of the request URL is too long.' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request was not received in time.' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large.' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  VALIDATION_FAILED: { status: 400, message: 'The request does not match the expected schema.' },
  OUTBOUND_NOT_ALLOWED: { status: 400, message: 'That address is not among the systems this server may connect to (OUTBOUND_ALLOW).' },
  UNSAFE_INPUT: { status: 400, message: 'The request body contains a forbidden key.' },
  NUL_CHARACTER: { status: 400, message: 'Text in the request contains a NUL character.' },
  NESTING_TOO_DEEP: { status: 400, message: 'The request body nests values too deeply.' },
  MALFORMED_TEXT: { status: 400, message: 'Text in the request is not well-formed Unicode.' },
  PASSWORD_REJECTED: { status: 400, message: 'The password does not meet the password policy.' },
  SETTINGS_INVALID: { status: 400, message: 'The settings are not consistent.' },
  RESET_TOKEN_INVALID: { status: 400, message: 'The link is not valid; ask for a new one.' },
  RESET_TOKEN_EXPIRED: { status: 400, message: 'The link has expired; ask for a new one.' },
  RESET_TOKEN_USED: { status: 400, message: 'The link has already been used; ask for a new one.' },
  PASSWORD_EXPIRED: { status: 403, message: 'The password has expired; choose a new one with the change token.' },
  PASSWORD_CHANGE_REQUIRED: { status: 403, message: 'The password must be changed before signing in; use the change token.' },
  INITIAL_PASSWORD_EXPIRED: { status: 403, message: 'This one-time password has expired; ask an administrator for a new one.' },
  PASSWORD_SET_FORBIDDEN: { status: 403, message: 'Administrators may not set passwords; send a reset link instead.' },
  LINK_NOT_SENDABLE: { status: 409, message: 'A password link cannot be sent to this user.' },
  SSO_FAILED: { status: 401, message: 'Single sign-on did not complete; start again.' },
  SSO_PROVIDER_UNAVAILABLE: { status: 503, message: 'The identity provider could not be reached; try again later.' },
  SSO_ACCOUNT_UNKNOWN: { status: 403, message: 'No account is linked to this sign-in; ask an administrator.' },
  SSO_ACCOUNT_NOT_LINKED: { status: 409, message: 'An account with this email exists; sign in to it and link this provider from your account page.' },
  SSO_ALREADY_LINKED: { status: 409, message: 'This sign-in is already linked to an account.' },
  SSO_LAST_LINK: { status: 409, message: 'This is the only way this account signs in; it cannot be unlinked.' },
  SSO_REAUTH_REQUIRED: { status: 403, message: 'Confirm it is you: give your current password, or sign in again, before linking a provider.' },
  DEVICE_CERTIFICATE_REQUIRED: {
    status: 403,
    message: "Administration needs a device of your organisation: this connection did not present the organisation's device certificate.",
  },
  SESSION_CONTEXT_CHANGED: {
    status: 403,
    message: 'Confirm it is you: this session was signed in from another network; sign in again to continue.',
  },
  REAUTH_REQUIRED: { status: 403, message: 'Confirm it is you: sign in again to continue; this action needs a sign-in within the last 10 minutes.' },
  SSO_LOGOUT_INVALID: { status: 400, message: 'The logout request could not be verified.' },
  SSO_ONLY_USER: { status: 409, message: 'This user signs in only through single sign-on and has no password.' },
  OIDC_INTERACTION_INVALID: { status: 400, message: 'This sign-in request has expired or is not valid; start again from the application.' },
  OIDC_CLIENT_PUBLIC: { status: 409, message: 'A public client has no secret to rotate.' },
  INVALID_CREDENTIALS: { status: 401, message: 'Invalid username or password.' },
  AUTH_REQUIRED: { status: 401, message: 'Authentication is required.' },
  TOKEN_INVALID: { status: 401, message: 'The token is not valid.' },
  TOKEN_EXPIRED: { status: 401, message: 'The token has expired; renew it within the refresh limit or sign in again.' },
  TOKEN_REUSED: { status: 401, message: 'The token was already renewed; the session has been ended.' },
  SESSION_ENDED: { status: 401, message: 'The session has ended; sign in again.' },
  MFA_REQUIRED: { status: 401, message: 'A second factor is required; finish signing in with the challenge token.' },
  MFA_ENROLMENT_REQUIRED: { status: 403, message: 'A second factor must be set up before signing in; use the enrolment token.' },
  MFA_TOKEN_INVALID: { status: 401, message: 'The second-factor token is not valid, was already used or has expired; sign in again.' },
  MFA_CODE_INVALID: { status: 401, message: 'The code is not valid.' },
  MFA_METHOD_UNAVAILABLE: { status: 400, message: 'This second factor is not set up for the account.' },
  MFA_FACTOR_EXISTS: { status: 409, message: 'This second factor is already set up; remove it first.' },
  MFA_FACTOR_REQUIRED: { status: 409, message: 'This account must keep a second factor; set up another one before removing this one.' },
  MFA_EMAIL_DISABLED: {
    status: 403,
    message: 'Codes by email are not a second factor on this server; use an authenticator app, a passkey or a recovery code.',
  },
  PASSKEYS_NOT_CONFIGURED: { status: 404, message: 'Passkeys are not configured on this server.' },
  PASSKEY_CHALLENGE_INVALID: { status: 400, message: 'The passkey challenge is unknown, was already used or has expired; ask for new options.' },
  PASSKEY_INVALID: { status: 401, message: 'The passkey could not be verified.' },
  PASSKEY_REGISTRATION_FAILED: { status: 400, message: 'The new passkey could not be verified.' },
  PASSKEY_LIMIT_REACHED: { status: 409, message: 'This account has the most passkeys it may have; remove one first.' },
  SMS_NOT_CONFIGURED: { status: 404, message: 'Text-message codes are not configured on this server.' },
  PHONE_NUMBER_INVALID: { status: 400, message: 'The phone number must be in international form, such as +4512345678.' },
  XSRF_TOKEN_INVALID: { status: 403, message: 'A valid XSRF token is required for this request.' },
  FORBIDDEN: { status: 403, message: 'You are not allowed to do this.' },
  API_KEY_INVALID: { status: 401, message: 'The API key is not valid.' },
  API_KEY_ADDRESS_REFUSED: { status: 403, message: 'This API key may not be used from this address.' },
  API_KEY_READ_ONLY: { status: 403, message: 'This API key may only read.' },
  API_KEY_EXPIRY_REQUIRED: { status: 400, message: 'An API key needs an expiry.' },
  SESSION_REQUIRED: { status: 403, message: 'This needs a signed-in session; API keys and basic authentication cannot do it.' },
  INSECURE_TRANSPORT: { status: 403, message: 'This credential is accepted only over HTTPS.' },
  EXPAND_INVALID: { status: 400, message: 'The expansion is not valid.' },
  PRIVILEGE_ESCALATION: { status: 403, message: 'This would give more power than you hold.' },
  ROLE_NOT_HELD: { status: 403, message: 'You do not hold this role.' },
  IDENTITY_CHECK_REQUIRED: { status: 400, message: 'Say how you checked who asks (method and reference) before resetting their second factor.' },
  CANNOT_MODIFY_SELF: { status: 403, message: 'This change cannot be made to your own account.' },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  CONFLICT: { status: 409, message: 'The resource already exists.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The content type is not supported.' },
  SERVER_BUSY: { status: 503, message: 'The server is busy; retry shortly.' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'A required service is unavailable.' },
  STORAGE_UNAVAILABLE: { status: 503, message: 'The server cannot store data right now; retry later.' },
  SHUTTING_DOWN: { status: 503, message: 'The server is shutting down; retry shortly.' },
  FILTER_INVALID: { status: 400, message: 'The filter or sort is not valid.' },
  INVALID_VALUE: { status: 400, message: 'A value in the request cannot be stored or compared.' },
  QUERY_TOO_LARGE: { status: 400, message: "The request's conditions hold too many values to run together." },
  FIELD_UNKNOWN: { status: 400, message: 'The request names a field that the collection does not have.' },
  FIELD_NOT_FILTERABLE: { status: 400, message: 'The request filters or sorts on a field you may not read.' },
  FIELD_NOT_WRITABLE: { status: 403, message: 'The request writes a field you may not write.' },
  IMPORT_REJECTED: { status: 400, message: 'The import was refused; nothing was written.' },
  CONFIG_INVALID: { status: 400, message: 'The configuration document is not valid.' },
  CONFIG_TOO_LARGE: { status: 413, message: 'The configuration document is too large.' },
  CONFIG_VERSION_UNSUPPORTED: { status: 400, message: 'The configuration document has a version this server does not read.' },
  SCHEMA_INVALID: { status: 400, message: 'The collection definition is not valid.' },
  PRIVACY_POLICY_INVALID: { status: 400, message: 'The privacy policy or erasure request does not fit the collection.' },
  PRIVACY_POLICY_BUSY: { status: 409, message: 'The privacy policy is running already; retry when it has finished.' },
  SECRETS_KEY_EXTERNAL: { status: 409, message: 'The secrets key is set in the environment; rotate it with the palisade command.' },
  SECRETS_UNREADABLE: { status: 409, message: 'Some secrets cannot be decrypted with the current key; write or delete them first.' },
  SECRETS_BUSY: { status: 409, message: 'The secrets key is being rotated; retry shortly.' },
  BACKUP_NOT_CONFIGURED: { status: 409, message: 'Backups need a passphrase (BACKUP_PASSPHRASE or BACKUP_PASSPHRASE_FILE).' },
  BACKUP_PASSPHRASE_WRONG: { status: 400, message: 'The passphrase does not open this backup.' },
  BACKUP_ARCHIVE_INVALID: { status: 400, message: 'The file is not an intact Palisade backup.' },
  BACKUP_DIALECT_MISMATCH: { status: 409, message: 'The backup was made on another database kind than the target.' },
  BACKUP_TOO_NEW: { status: 409, message: 'The backup was made by a newer Palisade release than this one.' },
  BACKUP_KEY_MISMATCH: { status: 409, message: 'The backup was made with another application key than the one configured.' },
  BACKUP_TARGET_NOT_EMPTY: { status: 409, message: 'The restore target already holds data; restore into an empty one or force it.' },
  BACKUP_VERIFY_FAILED: { status: 503, message: 'The backup could not be verified here.' },
  BACKUP_BUSY: { status: 409, message: 'Another backup is being made; retry shortly.' },
  SCANNER_UNAVAILABLE: { status: 503, message: 'The virus scanner cannot be reached right now; retry later.' },
  FILE_TOO_LARGE_TO_SCAN: { status: 413, message: 'The file is larger than the virus scanner accepts.' },
  NOT_A_FILE_FIELD: { status: 400, message: 'The field is not a file field.' },
  FILE_FIELD_IN_BODY: { status: 400, message: 'File fields are written through the files routes, not in a record body.' },
  FIELD_NOT_READABLE: { status: 403, message: 'The request reads a field you may not read.' },
  FILE_TYPE_NOT_ALLOWED: { status: 415, message: "The file's type is not accepted here." },
  FILE_TOO_LARGE: { status: 413, message: 'The file is larger than allowed.' },
  FILE_TOO_MANY_PIXELS: { status: 413, message: 'The image has more pixels than allowed.' },
  FILE_LIMIT_REACHED: { status: 409, message: 'The field holds as many files as it may.' },
  FILE_METADATA_NOT_REMOVABLE: { status: 422, message: "The file's metadata could not be removed; the file may be damaged." },
  FILE_METADATA_KEEP_NOT_ALLOWED: { status: 400, message: 'This field does not let an upload keep its metadata.' },
  FILE_METADATA_CONSENT_REQUIRED: {
    status: 422,
    message:
      'This type of file keeps its metadata (authors, times, comments): it is stored only if the uploader agrees (keepMetadata=true, where the field allows it).',
  },
  FILE_QUARANTINED: { status: 409, message: 'The file is waiting for the virus scanner; retry later.' },
  FILE_INFECTED: { status: 404, message: 'The file is not available.' },
  FILE_CONTENT_MISSING: { status: 404, message: "The file's content is missing from the file store." },
  FILE_LINK_INVALID: { status: 403, message: 'The download link is invalid or has expired.' },
  FILE_LINK_UNAVAILABLE: {
    status: 403,
    message: 'Signed download links are not offered when encrypted requests are required; download the file with an encrypted request.',
  },
  ACCOUNT_LOCKED: { status: 401, message: 'The account is locked.' },
  IP_BLOCKED: { status: 403, message: 'Requests from this address are not allowed.' },
  HTTPS_REQUIRED: { status: 403, message: 'The API is served over HTTPS only: send the request to the https:// address.' },
  CORS_ORIGIN_REFUSED: { status: 403, message: 'Cross-origin requests from this origin are not allowed.' },
  TRANSPORT_ENCRYPTION_REQUIRED: { status: 403, message: 'This server accepts API requests only with encrypted bodies and answers (application/jose).' },
  TRANSPORT_ENCRYPTION_OFF: { status: 400, message: 'Encrypted API bodies are not enabled on this server.' },
  TRANSPORT_BODY_INVALID: { status: 400, message: 'The encrypted request body is malformed or could not be decrypted.' },
  TRANSPORT_BODY_REPLAYED: { status: 409, message: 'The encrypted request body was already used; encrypt the request again.' },
  TRANSPORT_BODY_MISMATCH: { status: 400, message: 'The encrypted request body was made for another request or is too old.' },
  TRANSPORT_KEY_UNKNOWN: { status: 400, message: 'The request is encrypted to a key this server does not use; fetch the current key and retry.' },
  TRANSPORT_RESPONSE_KEY_INVALID: { status: 400, message: 'An encrypted answer was asked for without a valid response key.' },
  TRANSPORT_ANSWER_TOO_LARGE: { status: 400, message: 'The answer is too large to be encrypted; ask for less at a time.' },
  SELF_LOCKOUT: { status: 409, message: 'This rule would lock out the administrator making the change.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; retry later.' },
  BOT_CHECK_REQUIRED: { status: 403, message: 'This request needs a bot check.' },
  BOT_CHECK_FAILED: { status: 403, message: 'The bot check failed; try a new one.' },
  BOT_CHECK_UNAVAILABLE: { status: 503, message: 'The bot check cannot be verified right now; retry shortly.' },
  SMS_UNAVAILABLE: { status: 503, message: 'The text message could not be sent right now; retry shortly.' },
  SIGN_IN_PAUSED: { status: 503, message: 'Password sign-in is paused for a while; retry later.' },
  INTERNAL_ERROR: { status: 500, message: 'An internal error occurred.' },
} as const);

export type ErrorCode = keyof typeof ERRORS;

/** A typed, client-safe error: code and status from the registry, optional public details. */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    readonly details?: unknown,
    /** Internal reason: logged and audited, never sent to the client. */
    readonly internal?: string,
    /** Response headers that belong to the refusal, such as Retry-After. */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(ERRORS[code].message);
    this.status = ERRORS[code].status;
  }
}

/**
 * Internal reasons of a NOT_FOUND that hides something from the caller instead of reporting it missing. The client
 * sees a plain 404; the HTTP layer records the refusal as `access.refused` (V16.3.2, D372).
 */
export const HIDDEN = Object.freeze({
  /** A record that exists, outside the caller's view scope (a guessed id). */
  record: 'outside the view scope',
  /** A record outside the caller's write grants (a 403 instead when they can view it). */
  write: 'outside the write grants',
  /** A collection the caller holds no grant on, or none that lets them view it. */
  grant: 'no grant that allows it',
});
const HIDDEN_REASONS: ReadonlySet<string> = new Set(Object.values(HIDDEN));

/** Whether `e` is a 404 that hides something from the caller (see HIDDEN). */
export const isHidden = (e: AppError): boolean => e.code === 'NOT_FOUND' && e.internal !== undefined && HIDDEN_REASONS.has(e.internal);
