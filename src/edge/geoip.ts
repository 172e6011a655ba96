import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Addr } from './ip.js';

/**
 * Offline country lookup (EDGE-3) from the GeoLite2 country ranges that the
 * @ip-location-db/geolite2-country package ships (numeric CSV: start,end,country). Loaded once,
 * on first use, into sorted typed arrays and searched by bisection: no network, ever.
 */
interface Table {
  start: BigUint64Array | Uint32Array;
  end: BigUint64Array | Uint32Array;
  country: Uint16Array;
  hiStart?: BigUint64Array;
  hiEnd?: BigUint64Array;
}

const pack = (cc: string) => (cc.charCodeAt(0) << 8) | cc.charCodeAt(1);
const unpack = (n: number) => String.fromCharCode(n >> 8, n & 0xff);

function dataFile(name: string): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@ip-location-db/geolite2-country/package.json')), name);
}

async function loadV4(): Promise<Table> {
  const start: number[] = [];
  const end: number[] = [];
  const country: number[] = [];
  const rl = createInterface({ input: createReadStream(dataFile('geolite2-country-ipv4-num.csv')) });
  for await (const line of rl) {
    const [a, b, c] = line.split(',');
    if (!a || !b || !c || c.length !== 2) continue;
    start.push(Number(a));
    end.push(Number(b));
    country.push(pack(c));
  }
  return { start: Uint32Array.from(start), end: Uint32Array.from(end), country: Uint16Array.from(country) };
}

async function loadV6(): Promise<Table> {
  const hs: bigint[] = [];
  const ls: bigint[] = [];
  const he: bigint[] = [];
  const le: bigint[] = [];
  const country: number[] = [];
  const mask = (1n << 64n) - 1n;
  const rl = createInterface({ input: createReadStream(dataFile('geolite2-country-ipv6-num.csv')) });
  for await (const line of rl) {
    const [a, b, c] = line.split(',');
    if (!a || !b || !c || c.length !== 2) continue;
    const s = BigInt(a);
    const e = BigInt(b);
    hs.push(s >> 64n);
    ls.push(s & mask);
    he.push(e >> 64n);
    le.push(e & mask);
    country.push(pack(c));
  }
  return {
    hiStart: BigUint64Array.from(hs),
    start: BigUint64Array.from(ls),
    hiEnd: BigUint64Array.from(he),
    end: BigUint64Array.from(le),
    country: Uint16Array.from(country),
  };
}

export class GeoIp {
  private v4: Promise<Table> | null = null;
  private v6: Promise<Table> | null = null;

  /** Two-letter country code, or null for addresses with no country (private, reserved, unknown). */
  async country(a: Addr): Promise<string | null> {
    const bytes = a.toByteArray();
    if (a.kind() === 'ipv4') {
      this.v4 ??= loadV4();
      const t = await this.v4;
      const n = ((bytes[0]! << 24) >>> 0) + (bytes[1]! << 16) + (bytes[2]! << 8) + bytes[3]!;
      let lo = 0;
      let hi = t.start.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (n < (t.start[mid] as number)) hi = mid - 1;
        else if (n > (t.end[mid] as number)) lo = mid + 1;
        else return unpack(t.country[mid]!);
      }
      return null;
    }
    this.v6 ??= loadV6();
    const t = await this.v6;
    let h = 0n;
    let l = 0n;
    for (let i = 0; i < 8; i++) h = (h << 8n) | BigInt(bytes[i]!);
    for (let i = 8; i < 16; i++) l = (l << 8n) | BigInt(bytes[i]!);
    const cmp = (ah: bigint, al: bigint, bh: bigint, bl: bigint) => (ah === bh ? (al < bl ? -1 : al > bl ? 1 : 0) : ah < bh ? -1 : 1);
    let lo = 0;
    let hi = t.country.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (cmp(h, l, t.hiStart![mid]!, t.start[mid] as bigint) < 0) hi = mid - 1;
      else if (cmp(h, l, t.hiEnd![mid]!, t.end[mid] as bigint) > 0) lo = mid + 1;
      else return unpack(t.country[mid]!);
    }
    return null;
  }
}
