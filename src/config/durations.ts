/** Parses "90", "90s", "15m", "8h", "7d" into seconds; returns null when malformed. */
export function parseDuration(raw: string): number | null {
  const m = /^(\d{1,9})([smhd]?)$/.exec(raw.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] === 'd' ? 86400 : m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1;
  return n * unit;
}
