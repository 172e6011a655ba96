import { AndFilter, EqualityFilter, type Filter } from 'ldapts';

/**
 * A value put into a DN (RFC 4514 section 2.4): `\` before `"` `+` `,` `;` `<` `>` `\` and `=`, a
 * leading `#` or space, a trailing space; NUL as `\00`. What the user typed never changes the DN's shape.
 */
export function escapeDnValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\u0000') out += '\\00';
    else if ('"+,;<>\\='.includes(c)) out += `\\${c}`;
    else if ((i === 0 && (c === '#' || c === ' ')) || (i === value.length - 1 && c === ' ')) out += `\\${c}`;
    else out += c;
  }
  return out;
}

/** The direct-bind DN: the template with its one `{username}` replaced by the escaped value. */
export function bindDnOf(template: string, username: string): string {
  return template.replace('{username}', () => escapeDnValue(username));
}

/**
 * Filters are built as objects (ldapts encodes an `EqualityFilter`'s value as an octet string; no text
 * is parsed), so `*`, `(`, `)`, `\` and NUL in a username are matched literally (RFC 4515), never as syntax.
 */
export const equals = (attribute: string, value: string): Filter => new EqualityFilter({ attribute, value });

export const userFilter = (objectClass: string, attribute: string, username: string): Filter =>
  new AndFilter({ filters: [equals('objectClass', objectClass), equals(attribute, username)] });

export const groupFilter = (objectClass: string, memberAttribute: string, member: string): Filter =>
  new AndFilter({ filters: [equals('objectClass', objectClass), equals(memberAttribute, member)] });

/** The value of a DN's first RDN (`cn=editors,ou=groups,...` gives `editors`), for a group named by DN only. */
export function firstRdnValue(dn: string): string | null {
  const m = /^[^=]+=((?:\\.|[^,\\])*)/.exec(dn);
  if (!m) return null;
  return m[1]!.replace(/\\([0-9a-fA-F]{2}|.)/g, (_, e: string) => (e.length === 2 ? String.fromCharCode(Number.parseInt(e, 16)) : e)).trim();
}
