/**
 * Metadata removal from Office Open XML (docx, xlsx, pptx) and OpenDocument (odt, ods) uploads (ASVS V14.2.8, D446).
 * Both are ZIP packages whose metadata sits in parts of their own: OOXML's core properties (`docProps/core.xml`:
 * creator, last editor, dates, title, keywords), extended properties (`docProps/app.xml`: company, manager, template,
 * editing time) and custom properties (`docProps/custom.xml`), found through the package's relationships
 * (`_rels/.rels`); OpenDocument's `meta.xml` (initial creator, creator, dates, generator, user-defined fields).
 * ExifTool cannot write these formats, so the package is rewritten here: the core and extended properties become an
 * empty element of their own kind, the custom properties go with their content type override and relationship, an
 * OpenDocument's `office:meta` is emptied; every other part keeps its stored (compressed) bytes.
 *
 * Nothing is unpacked to disk or by a name of the archive's: entries are read from the central directory and
 * inflated (fflate) only to check them, in a stream, within a bound on the unpacked bytes of the whole package
 * (twenty times its size, at least 16 MiB, at most 512 MiB) and on its entries (10 000); each entry's size and CRC
 * must be what the directory says. An encrypted entry, a method other than stored or deflated, ZIP64, a name that is
 * absolute or has `..`, a duplicate name, overlapping entries or a DTD in a part read here is refused
 * (FILE_METADATA_NOT_REMOVABLE); more than the bound is FILE_UNPACKED_TOO_LARGE. The new package has no archive or
 * entry comment, no extra field (extended timestamps, Unix owners) and every entry dated 1980-01-01.
 */
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { DOMParser, type Document, type Element, XMLSerializer } from '@xmldom/xmldom';
import { deflateSync, Inflate } from 'fflate';
import { AppError } from '../errors.js';

export type PackageKind = 'ooxml' | 'odf';

const MiB = 1024 * 1024;
/** The bounds on what a package unpacks to: entries, and bytes (a ratio of its size, within a floor and a ceiling). */
export const PACKAGE_BOUNDS = Object.freeze({ maxEntries: 10_000, ratio: 20, floorBytes: 16 * MiB, maxBytes: 512 * MiB });
/** The largest part read whole and parsed here ([Content_Types].xml, relationships, properties, meta.xml). */
const MAX_PART = 8 * MiB;
/** The largest central directory read (10 000 entries with long names fit well within). */
const MAX_DIRECTORY = 16 * MiB;
/** Compressed bytes read from the file at once, and handed to the inflater at once (a bound on one step's output). */
const READ_CHUNK = 256 * 1024;
const INFLATE_SLICE = 16 * 1024;

const LOCAL = 0x04034b50;
const CENTRAL = 0x02014b50;
const END = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
/** General purpose flags: encrypted, strong encryption, masked local header; the name is UTF-8. */
const ENCRYPTED = 0x0001 | 0x0040 | 0x2000;
const UTF8 = 0x0800;
/** 1980-01-01 00:00, the earliest DOS date: no entry says when the document was written. */
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

const XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n';
const OFFICE_NS = 'urn:oasis:names:tc:opendocument:xmlns:office:1.0';
const CONTENT_TYPES = '[content_types].xml';
const PACKAGE_RELS = '_rels/.rels';

interface Entry {
  /** The name's bytes, copied as they are, and as text (for the rules); `key` is its lower case, for lookups. */
  readonly raw: Buffer;
  readonly name: string;
  readonly key: string;
  readonly flags: number;
  readonly method: number;
  readonly crc: number;
  readonly csize: number;
  readonly usize: number;
  readonly offset: number;
  /** Where its compressed bytes start, once its local header is read. */
  dataStart: number;
}

/** A package that cannot be read as one: refused, never stored with its metadata. */
const bad = (why: string): AppError => new AppError('FILE_METADATA_NOT_REMOVABLE', undefined, `package: ${why}`);
const tooLarge = (maxUnpackedBytes: number, maxEntries: number, why: string): AppError =>
  new AppError('FILE_UNPACKED_TOO_LARGE', { maxUnpackedBytes, maxEntries }, `package: ${why}`);

/** What this upload may unpack to, in bytes: `ratio` times its size, within the floor and the ceiling. */
export const unpackedBound = (size: number): number => Math.min(PACKAGE_BOUNDS.maxBytes, Math.max(PACKAGE_BOUNDS.floorBytes, PACKAGE_BOUNDS.ratio * size));

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  if (bytesRead !== length) throw bad('truncated');
  return buf;
}

/** An entry name as the rules see it: refused when empty, absolute, with a `..` segment, a NUL or a backslash path. */
function nameOf(raw: Buffer, flags: number): string {
  let name: string;
  try {
    // Without the UTF-8 flag a name is CP437; its ASCII, the only part the rules look at, is the same.
    name = flags & UTF8 ? new TextDecoder('utf-8', { fatal: true }).decode(raw) : raw.toString('latin1');
  } catch {
    throw bad('an entry name is not UTF-8');
  }
  if (name.length === 0 || name.includes('\0')) throw bad('an empty entry name');
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) throw bad('an absolute entry name');
  if (name.split(/[\\/]/).includes('..')) throw bad('an entry name with ..');
  return name;
}

/** The central directory's entries, in its order, checked; their local headers read, without overlap. */
async function directory(fh: FileHandle, size: number, maxUnpacked: number): Promise<Entry[]> {
  const { maxEntries } = PACKAGE_BOUNDS;
  if (size < 22) throw bad('no end of central directory');
  const tailLength = Math.min(size, 22 + 0xffff);
  const tail = await readAt(fh, size - tailLength, tailLength);
  let at = -1;
  // The end record whose comment ends the file exactly.
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === END && i + 22 + tail.readUInt16LE(i + 20) === tail.length) {
      at = i;
      break;
    }
  }
  if (at < 0) throw bad('no end of central directory');
  if (at >= 20 && tail.readUInt32LE(at - 20) === ZIP64_LOCATOR) throw bad('ZIP64');
  const endPos = size - tailLength + at;
  const disk = tail.readUInt16LE(at + 4);
  const cdDisk = tail.readUInt16LE(at + 6);
  const onDisk = tail.readUInt16LE(at + 8);
  const count = tail.readUInt16LE(at + 10);
  const cdSize = tail.readUInt32LE(at + 12);
  const cdOffset = tail.readUInt32LE(at + 16);
  if (disk !== 0 || cdDisk !== 0 || onDisk !== count) throw bad('a multi-disk archive');
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) throw bad('ZIP64');
  if (count > maxEntries) throw tooLarge(maxUnpacked, maxEntries, `${count} entries`);
  if (cdOffset + cdSize > endPos || cdSize > MAX_DIRECTORY) throw bad('a central directory out of place');
  const cd = await readAt(fh, cdOffset, cdSize);

  const entries: Entry[] = [];
  const seen = new Set<string>();
  let declared = 0;
  let p = 0;
  while (p < cd.length) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL) throw bad('a damaged central directory');
    const flags = cd.readUInt16LE(p + 8);
    const method = cd.readUInt16LE(p + 10);
    const crc = cd.readUInt32LE(p + 16);
    const csize = cd.readUInt32LE(p + 20);
    const usize = cd.readUInt32LE(p + 24);
    const nameLength = cd.readUInt16LE(p + 28);
    const extraLength = cd.readUInt16LE(p + 30);
    const commentLength = cd.readUInt16LE(p + 32);
    const startDisk = cd.readUInt16LE(p + 34);
    const offset = cd.readUInt32LE(p + 42);
    const next = p + 46 + nameLength + extraLength + commentLength;
    if (next > cd.length) throw bad('a damaged central directory');
    if (flags & ENCRYPTED) throw bad('an encrypted entry');
    if (method !== 0 && method !== 8) throw bad(`compression method ${method}`);
    if (csize === 0xffffffff || usize === 0xffffffff || offset === 0xffffffff) throw bad('ZIP64');
    if (startDisk !== 0) throw bad('a multi-disk archive');
    if (method === 0 && csize !== usize) throw bad('a stored entry whose sizes differ');
    const raw = Buffer.from(cd.subarray(p + 46, p + 46 + nameLength));
    const name = nameOf(raw, flags);
    const key = name.toLowerCase();
    // Two parts of one name: which one a reader takes is its own choice, and the other could keep the metadata.
    if (seen.has(key)) throw bad('a duplicate entry name');
    seen.add(key);
    declared += usize;
    if (declared > maxUnpacked) throw tooLarge(maxUnpacked, maxEntries, `unpacks to more than ${maxUnpacked} bytes`);
    entries.push({ raw, name, key, flags, method, crc, csize, usize, offset, dataStart: -1 });
    if (entries.length > maxEntries) throw tooLarge(maxUnpacked, maxEntries, 'too many entries');
    p = next;
  }
  if (entries.length !== count) throw bad('the entry count does not match the central directory');

  // Each entry's local header, the same name and method, its data before the central directory; none overlapping
  // another (overlapping entries are a way of making a small archive unpack to much more).
  let end = 0;
  for (const e of [...entries].sort((a, b) => a.offset - b.offset)) {
    if (e.offset < end) throw bad('overlapping entries');
    if (e.offset + 30 > cdOffset) throw bad('an entry out of place');
    const head = await readAt(fh, e.offset, 30);
    if (head.readUInt32LE(0) !== LOCAL) throw bad('a missing local header');
    const localFlags = head.readUInt16LE(6);
    const localMethod = head.readUInt16LE(8);
    const nameLength = head.readUInt16LE(26);
    const extraLength = head.readUInt16LE(28);
    if (localFlags & ENCRYPTED) throw bad('an encrypted entry');
    if (localMethod !== e.method) throw bad('a local header that differs from the directory');
    if (e.offset + 30 + nameLength > cdOffset) throw bad('an entry out of place');
    const localName = await readAt(fh, e.offset + 30, nameLength);
    if (!localName.equals(e.raw)) throw bad('a local header that differs from the directory');
    e.dataStart = e.offset + 30 + nameLength + extraLength;
    end = e.dataStart + e.csize;
    if (end > cdOffset) throw bad('an entry out of place');
  }
  return entries;
}

/**
 * Reads an entry's compressed bytes, hands each chunk to `copy` (when given), and inflates them to check that they
 * are what the directory says (size and CRC), never more than its declared size. Returns the content when `keep`
 * (a part of at most MAX_PART bytes), else an empty array.
 */
async function readEntry(fh: FileHandle, e: Entry, keep: boolean, tick: () => void, copy?: (chunk: Buffer) => Promise<void>): Promise<Buffer> {
  if (keep && e.usize > MAX_PART) throw bad(`${e.name} is too large to read`);
  const kept: Uint8Array[] = [];
  let out = 0;
  let crc = 0;
  const take = (chunk: Uint8Array) => {
    out += chunk.length;
    if (out > e.usize) throw bad(`${e.name} unpacks to more than it declares`);
    if (chunk.length === 0) return;
    crc = crc32(chunk, crc);
    if (keep) kept.push(chunk);
  };
  const inflater = e.method === 8 ? new Inflate((chunk) => take(chunk)) : null;
  try {
    for (let done = 0; done < e.csize; ) {
      tick();
      const chunk = await readAt(fh, e.dataStart + done, Math.min(READ_CHUNK, e.csize - done));
      done += chunk.length;
      if (copy) await copy(chunk);
      if (!inflater) take(chunk);
      else for (let i = 0; i < chunk.length; i += INFLATE_SLICE) inflater.push(chunk.subarray(i, i + INFLATE_SLICE));
    }
    inflater?.push(new Uint8Array(0), true);
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw bad(`${e.name} does not inflate: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (out !== e.usize || crc >>> 0 !== e.crc) throw bad(`${e.name} is not what the directory says`);
  return Buffer.concat(kept);
}

/** A part's XML, parsed strictly: UTF-8 or UTF-16 (by its byte order mark), no DTD, no error tolerated. */
function parseXml(bytes: Buffer, what: string): Document {
  let text: string;
  try {
    const le = bytes[0] === 0xff && bytes[1] === 0xfe;
    const be = bytes[0] === 0xfe && bytes[1] === 0xff;
    text = new TextDecoder(le ? 'utf-16le' : be ? 'utf-16be' : 'utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw bad(`${what} is not UTF-8 or UTF-16`);
  }
  // No DTD, hence no entity of the document's own (OPC forbids them in a package's XML).
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw bad(`${what} has a DTD`);
  let broken = false;
  let doc: Document;
  try {
    doc = new DOMParser({
      onError: (level) => {
        if (level !== 'warning') broken = true;
      },
    }).parseFromString(text, 'text/xml');
  } catch {
    throw bad(`${what} is not XML`);
  }
  if (broken || !doc.documentElement || doc.doctype) throw bad(`${what} is not XML`);
  return doc;
}

const escapeAttr = (v: string) => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The part's root element alone, with its namespace declarations (and `keep`'s attributes), around `inner`: the
 * element its readers expect, with none of its properties.
 */
function emptied(doc: Document, keep: (a: { namespaceURI: string | null; localName: string | null }) => boolean, inner = ''): Buffer {
  const root = doc.documentElement!;
  let attrs = '';
  for (const a of Array.from(root.attributes)) {
    if (a.name === 'xmlns' || a.name.startsWith('xmlns:') || keep(a)) attrs += ` ${a.name}="${escapeAttr(a.value)}"`;
  }
  const body = inner ? `>${inner}</${root.tagName}>` : '/>';
  return Buffer.from(`${XML_DECL}<${root.tagName}${attrs}${body}`, 'utf8');
}

const childElements = (el: Element): Element[] => Array.from(el.childNodes).filter((n): n is Element => n.nodeType === 1);

/** The document as UTF-8, under a declaration that says so (the original's may have named UTF-16). */
const serialize = (doc: Document): Buffer => {
  const text = new XMLSerializer().serializeToString(doc).replace(/^<\?xml[^>]*\?>\s*/, '');
  return Buffer.from(XML_DECL + text, 'utf8');
};

/** A package relationship's target, as an entry key: resolved from the package's root, percent-decoded, lower case. */
function targetKey(target: string): string {
  let t = target.split('#')[0] ?? '';
  try {
    t = decodeURIComponent(t);
  } catch {
    // not percent-encoded
  }
  return path.posix.normalize(`/${t}`).slice(1).toLowerCase();
}

/** The relationship types (transitional and strict) of the three property parts. */
const CORE_REL = /\/metadata\/core-properties$/;
const APP_REL = /\/(extended-properties|extendedProperties)$/;
const CUSTOM_REL = /\/(custom-properties|customProperties)$/;

/** What to do with each part: replace it by new bytes, or drop it; the others are copied. */
type Plan = Map<string, Buffer | null>;

/** OOXML: the core and extended properties emptied, the custom properties removed with their override and relationship. */
async function planOoxml(fh: FileHandle, entries: Entry[], tick: () => void): Promise<Plan> {
  const byKey = new Map(entries.map((e) => [e.key, e]));
  const core = new Set<string>(['docprops/core.xml']);
  const app = new Set<string>(['docprops/app.xml']);
  const custom = new Set<string>(['docprops/custom.xml']);
  const plan: Plan = new Map();

  const relsEntry = byKey.get(PACKAGE_RELS);
  const rels = relsEntry ? parseXml(await readEntry(fh, relsEntry, true, tick), PACKAGE_RELS) : null;
  const dropped: Element[] = [];
  if (rels) {
    for (const r of childElements(rels.documentElement!)) {
      if (r.localName !== 'Relationship' || r.getAttribute('TargetMode') === 'External') continue;
      const type = r.getAttribute('Type') ?? '';
      const target = targetKey(r.getAttribute('Target') ?? '');
      if (CORE_REL.test(type)) core.add(target);
      else if (APP_REL.test(type)) app.add(target);
      else if (CUSTOM_REL.test(type)) {
        custom.add(target);
        dropped.push(r);
      }
    }
  }
  for (const key of custom) {
    if (core.has(key) || app.has(key)) throw bad('a part that is two kinds of properties');
    if (!byKey.has(key)) continue;
    plan.set(key, null);
    // The removed part's own relationships go with it.
    const dir = path.posix.dirname(key);
    plan.set(`${dir === '.' ? '' : `${dir}/`}_rels/${path.posix.basename(key)}.rels`, null);
  }
  for (const [keys, localName] of [
    [core, 'coreProperties'],
    [app, 'Properties'],
  ] as const) {
    for (const key of keys) {
      const e = byKey.get(key);
      if (!e) continue;
      const doc = parseXml(await readEntry(fh, e, true, tick), e.name);
      if (doc.documentElement!.localName !== localName) throw bad(`${e.name} is not ${localName}`);
      plan.set(
        key,
        emptied(doc, () => false),
      );
    }
  }
  const removed = new Set([...plan].filter(([, v]) => v === null).map(([k]) => k));
  if (rels && relsEntry) {
    for (const r of childElements(rels.documentElement!)) {
      if (r.localName === 'Relationship' && r.getAttribute('TargetMode') !== 'External' && removed.has(targetKey(r.getAttribute('Target') ?? '')))
        if (!dropped.includes(r)) dropped.push(r);
    }
    for (const r of dropped) rels.documentElement!.removeChild(r);
    if (dropped.length > 0) plan.set(PACKAGE_RELS, serialize(rels));
  }
  const typesEntry = byKey.get(CONTENT_TYPES);
  if (typesEntry && removed.size > 0) {
    const types = parseXml(await readEntry(fh, typesEntry, true, tick), typesEntry.name);
    const overrides = childElements(types.documentElement!).filter(
      (o) => o.localName === 'Override' && removed.has(targetKey(o.getAttribute('PartName') ?? '')),
    );
    for (const o of overrides) types.documentElement!.removeChild(o);
    if (overrides.length > 0) plan.set(CONTENT_TYPES, serialize(types));
  }
  return plan;
}

/** OpenDocument: each `meta.xml` (the document's, and an embedded object's) with an empty `office:meta`. */
async function planOdf(fh: FileHandle, entries: Entry[], tick: () => void): Promise<Plan> {
  const plan: Plan = new Map();
  for (const e of entries) {
    if (e.key !== 'meta.xml' && !e.key.endsWith('/meta.xml')) continue;
    const doc = parseXml(await readEntry(fh, e, true, tick), e.name);
    const root = doc.documentElement!;
    if (root.namespaceURI !== OFFICE_NS || root.localName !== 'document-meta') {
      // The document's own must be one; a file of that name inside another folder is not metadata.
      if (e.key === 'meta.xml') throw bad('meta.xml is not office:document-meta');
      continue;
    }
    const meta = root.prefix ? `<${root.prefix}:meta/>` : '<meta/>';
    plan.set(
      e.key,
      emptied(doc, (a) => a.namespaceURI === OFFICE_NS && a.localName === 'version', meta),
    );
  }
  if (!plan.has('meta.xml') && entries.some((e) => e.key === 'meta.xml')) throw bad('meta.xml was not read');
  return plan;
}

/** Writes a package file: local headers and data in order, then the central directory and its end. */
class Writer {
  private position = 0;
  private readonly central: Buffer[] = [];
  private count = 0;

  constructor(private readonly fh: FileHandle) {}

  async write(buf: Buffer): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, done, buf.length - done, this.position + done);
      done += bytesWritten;
    }
    this.position += buf.length;
  }

  /** Starts an entry: its local header, with the sizes and CRC up front (no data descriptor). */
  async begin(raw: Buffer, utf8: boolean, method: number, crc: number, csize: number, usize: number): Promise<void> {
    const flags = utf8 ? UTF8 : 0;
    const version = method === 8 ? 20 : 10;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL, 0);
    local.writeUInt16LE(version, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(csize, 18);
    local.writeUInt32LE(usize, 22);
    local.writeUInt16LE(raw.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(CENTRAL, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(version, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(csize, 20);
    central.writeUInt32LE(usize, 24);
    central.writeUInt16LE(raw.length, 28);
    // Extra field, comment, disk, internal and external attributes: none.
    central.writeUInt32LE(this.position, 42);
    this.central.push(central, raw);
    this.count++;
    await this.write(Buffer.concat([local, raw]));
  }

  /** A whole entry of new content: deflated, or stored when `store` (an OpenDocument's mimetype). */
  async entry(raw: Buffer, utf8: boolean, content: Buffer, store = false): Promise<void> {
    const data = store ? content : Buffer.from(deflateSync(content, { level: 6 }));
    await this.begin(raw, utf8, store ? 0 : 8, crc32(content), data.length, content.length);
    await this.write(data);
  }

  async end(): Promise<void> {
    const cd = Buffer.concat(this.central);
    const start = this.position;
    await this.write(cd);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(END, 0);
    end.writeUInt16LE(this.count, 8);
    end.writeUInt16LE(this.count, 10);
    end.writeUInt32LE(cd.length, 12);
    end.writeUInt32LE(start, 16);
    await this.write(end);
  }
}

/**
 * Writes `output` (a new file, 0600), the package at `input` without its metadata. `tick` is called between reads
 * and throws when the time is up. Throws FILE_METADATA_NOT_REMOVABLE for a package that cannot be read as one,
 * FILE_UNPACKED_TOO_LARGE past the bounds; `output` is then incomplete, for the caller to remove.
 */
export async function rewritePackage(input: string, output: string, kind: PackageKind, tick: () => void): Promise<void> {
  const fh = await open(input, 'r');
  try {
    const { size } = await fh.stat();
    const entries = await directory(fh, size, unpackedBound(size));
    const plan = kind === 'ooxml' ? await planOoxml(fh, entries, tick) : await planOdf(fh, entries, tick);
    let order = entries;
    if (kind === 'odf') {
      // OpenDocument: `mimetype` first, stored, so that its type can be read at a fixed offset.
      const mimetype = entries.find((e) => e.name === 'mimetype');
      if (!mimetype) throw bad('an OpenDocument package without mimetype');
      plan.set('mimetype', await readEntry(fh, mimetype, true, tick));
      order = [mimetype, ...entries.filter((e) => e !== mimetype)];
    }
    const out = await open(output, 'wx', 0o600);
    try {
      const w = new Writer(out);
      for (const e of order) {
        const utf8 = (e.flags & UTF8) !== 0;
        const replaced = plan.get(e.key);
        if (replaced === null) {
          // Removed; still read whole, so that a damaged or oversized part is refused like any other.
          await readEntry(fh, e, false, tick);
        } else if (replaced !== undefined) {
          await w.entry(e.raw, utf8, replaced, kind === 'odf' && e.name === 'mimetype');
        } else {
          // Copied as stored, and checked as it is.
          await w.begin(e.raw, utf8, e.method, e.crc, e.csize, e.usize);
          await readEntry(fh, e, false, tick, (chunk) => w.write(chunk));
        }
      }
      await w.end();
    } finally {
      await out.close();
    }
  } finally {
    await fh.close();
  }
}
