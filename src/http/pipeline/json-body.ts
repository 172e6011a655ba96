import sjson from 'secure-json-parse';
import { AppError } from '../../errors.js';
import { checkJsonBody } from './input-bounds.js';

/**
 * The one JSON body rule, for plain `application/json` bodies and for the plaintext of encrypted ones
 * (pipeline/transport.ts): not empty, proto poisoning refused with its own code, then the input bounds.
 */
export function parseJsonText(text: string): unknown {
  if (text.length === 0) throw new AppError('INVALID_JSON', undefined, 'empty body');
  let value: unknown;
  try {
    value = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (e) {
    const poisoned = e instanceof Error && /forbidden (prototype|constructor) property/.test(e.message);
    throw new AppError(poisoned ? 'UNSAFE_INPUT' : 'INVALID_JSON');
  }
  checkJsonBody(value);
  return value;
}
