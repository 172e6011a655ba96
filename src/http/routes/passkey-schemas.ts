import Type from 'typebox';
import { Label } from '../schemas.js';

/** WebAuthn's JSON forms (the browser's PublicKeyCredential.toJSON()), bounded and closed. */
const b64u = (maxLength: number, description?: string) =>
  Type.String({ minLength: 1, maxLength, pattern: '^[A-Za-z0-9_-]+$', ...(description ? { description } : {}) });
const CredentialId = b64u(1400, 'The credential ID, base64url (at most 1023 bytes).');
const Transport = Type.String({ maxLength: 20, pattern: '^[a-z-]+$' });
const Attachment = Type.Optional(Type.Union([Type.Literal('platform'), Type.Literal('cross-platform')]));
// Extension outputs vary by browser (credProps, prf...): an object, bounded, not read by the server.
const ExtensionResults = Type.Object({}, { additionalProperties: true, maxProperties: 16 });

export const RegistrationResponse = Type.Object(
  {
    id: CredentialId,
    rawId: CredentialId,
    type: Type.Literal('public-key'),
    response: Type.Object(
      {
        clientDataJSON: b64u(4096),
        attestationObject: b64u(16384),
        authenticatorData: Type.Optional(b64u(8192)),
        transports: Type.Optional(Type.Array(Transport, { maxItems: 10 })),
        publicKeyAlgorithm: Type.Optional(Type.Integer()),
        publicKey: Type.Optional(b64u(4096)),
      },
      { additionalProperties: false },
    ),
    authenticatorAttachment: Attachment,
    clientExtensionResults: ExtensionResults,
  },
  { additionalProperties: false, description: 'What navigator.credentials.create() gave, in JSON (base64url fields).' },
);

export const AuthenticationResponse = Type.Object(
  {
    id: CredentialId,
    rawId: CredentialId,
    type: Type.Literal('public-key'),
    response: Type.Object(
      {
        clientDataJSON: b64u(4096),
        authenticatorData: b64u(8192),
        signature: b64u(1024),
        userHandle: Type.Optional(b64u(128)),
      },
      { additionalProperties: false },
    ),
    authenticatorAttachment: Attachment,
    clientExtensionResults: ExtensionResults,
  },
  { additionalProperties: false, description: 'What navigator.credentials.get() gave, in JSON (base64url fields).' },
);

const Descriptor = Type.Object({ id: Type.String(), type: Type.String(), transports: Type.Optional(Type.Array(Type.String())) });

export const CreationOptions = Type.Object(
  {
    challenge: Type.String(),
    rp: Type.Object({ id: Type.Optional(Type.String()), name: Type.String() }),
    user: Type.Object({ id: Type.String(), name: Type.String(), displayName: Type.String() }),
    pubKeyCredParams: Type.Array(Type.Object({ alg: Type.Integer(), type: Type.String() })),
    timeout: Type.Optional(Type.Integer()),
    attestation: Type.Optional(Type.String()),
    excludeCredentials: Type.Optional(Type.Array(Descriptor)),
    authenticatorSelection: Type.Optional(
      Type.Object({
        residentKey: Type.Optional(Type.String()),
        requireResidentKey: Type.Optional(Type.Boolean()),
        userVerification: Type.Optional(Type.String()),
      }),
    ),
    extensions: Type.Optional(Type.Object({ credProps: Type.Optional(Type.Boolean()) })),
    hints: Type.Optional(Type.Array(Type.String())),
  },
  {
    description:
      'PublicKeyCredentialCreationOptions in JSON: decode challenge, user.id and excludeCredentials[].id from base64url for navigator.credentials.create().',
  },
);

export const RequestOptions = Type.Object(
  {
    challenge: Type.String(),
    rpId: Type.Optional(Type.String()),
    allowCredentials: Type.Optional(Type.Array(Descriptor)),
    timeout: Type.Optional(Type.Integer()),
    userVerification: Type.Optional(Type.String()),
  },
  { description: 'PublicKeyCredentialRequestOptions in JSON: decode challenge from base64url for navigator.credentials.get().' },
);

export const PasskeySchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  transports: Type.Array(Type.String()),
  aaguid: Type.String({ description: "The authenticator model's AAGUID; all zeros when it tells none." }),
  backedUp: Type.Boolean({ description: 'A synced passkey, backed up by its provider.' }),
  createdAt: Type.String(),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
});

export const PasskeyName = Label(100);
