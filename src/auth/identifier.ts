/** Lower-cased NFKC form used to look up usernames and emails. */
export function normaliseIdentifier(s: string): string {
  return s.normalize('NFKC').trim().toLowerCase();
}
