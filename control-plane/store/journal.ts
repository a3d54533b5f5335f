// The file store's on-disk records. Every record is one line: the CRC-32 of the JSON as
// 8 lower-case hex digits, a space, the JSON, '\n'. JSON.stringify never emits a raw
// newline, so '\n' frames a record, and the checksum tells a record the disk holds
// whole from one torn by a crash or damaged later.
//
// journal.log holds one record per commit: `{"events":[WatchEvent...]}`, the writes that
// one append + fdatasync made durable (a single write, or a group-committed batch). A
// commit is the unit the disk makes durable, so "the last record is torn" means exactly
// "the commit in flight was never acknowledged", even when a big batch spans pages that
// the kernel wrote out of order.

import { open, readFile, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { WatchEvent } from './store.ts';

const NEWLINE = 0x0a;
const EVENT_TYPES = new Set(['ADDED', 'MODIFIED', 'DELETED']);

export function frame(value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  const head = Buffer.from(`${crc32(json).toString(16).padStart(8, '0')} `, 'latin1');
  return Buffer.concat([head, json, Buffer.of(NEWLINE)]);
}

export type Unframed = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string };

/** One line without its '\n'. */
export function unframe(line: Buffer): Unframed {
  if (line.length < 10 || line[8] !== 0x20) return { ok: false, reason: 'no checksum header' };
  const head = line.toString('latin1', 0, 8);
  if (!/^[0-9a-f]{8}$/.test(head)) return { ok: false, reason: 'no checksum header' };
  const json = line.subarray(9);
  if (crc32(json) !== Number.parseInt(head, 16)) return { ok: false, reason: 'checksum mismatch' };
  try {
    return { ok: true, value: JSON.parse(json.toString('utf8')) };
  } catch {
    return { ok: false, reason: 'checksum matches but the record is not JSON' };
  }
}

export function encodeCommit(events: readonly WatchEvent[]): Buffer {
  return frame({ events });
}

export type Commit = { readonly offset: number; readonly events: readonly WatchEvent[] };

export type JournalScan = {
  readonly commits: readonly Commit[];
  /** Bytes of whole, valid records; the file is cut here when a torn tail follows. */
  readonly validLength: number;
  /** Set when the last record was torn: why, and where it started. */
  readonly torn?: { readonly offset: number; readonly reason: string };
};

/**
 * Reads journal.log. A bad record at the end is the commit a crash interrupted (its
 * writers never got an answer) and is reported as `torn`; a bad record with a good one
 * after it means the disk lost data that was acknowledged, and throws rather than
 * silently dropping it.
 */
export async function scanJournal(file: string): Promise<JournalScan> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { commits: [], validLength: 0 };
    throw err;
  }
  const commits: Commit[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const end = buf.indexOf(NEWLINE, offset);
    if (end < 0) return { commits, validLength: offset, torn: { offset, reason: `an incomplete record of ${buf.length - offset} bytes` } };
    const rec = unframe(buf.subarray(offset, end));
    if (!rec.ok) {
      if (end + 1 >= buf.length || buf.indexOf(NEWLINE, end + 1) < 0) {
        return { commits, validLength: offset, torn: { offset, reason: rec.reason } };
      }
      throw corrupt(file, offset, commits.length, `${rec.reason}, and more records follow it, so this is not a write a crash interrupted`);
    }
    const problem = commitProblem(rec.value);
    // A checksum that matches over a record of the wrong shape is not a torn write: it is
    // another program's file or a format this version does not read.
    if (problem !== undefined) throw corrupt(file, offset, commits.length, problem);
    commits.push({ offset, events: (rec.value as { events: WatchEvent[] }).events });
    offset = end + 1;
  }
  return { commits, validLength: offset };
}

export function corrupt(file: string, offset: number, index: number, why: string): Error {
  return new Error(
    `${file} is damaged at byte offset ${offset} (record ${index + 1}): ${why}. ` +
      'Refusing to open the store rather than drop writes that were acknowledged: restore the directory from a backup ' +
      `(or, accepting the loss of every write from that record on, cut the file there: truncate -s ${offset} ${file}).`,
  );
}

function commitProblem(value: unknown): string | undefined {
  const events = (value as { events?: unknown } | null)?.events;
  if (!Array.isArray(events) || events.length === 0) return 'the record is not a commit (no "events")';
  for (const e of events as Partial<WatchEvent>[]) {
    if (typeof e !== 'object' || e === null) return 'an event is not an object';
    if (!Number.isSafeInteger(e.revision) || (e.revision as number) < 1) return 'an event has no valid revision';
    if (!EVENT_TYPES.has(e.type as string)) return `an event has an unknown type ${JSON.stringify(e.type)}`;
    if (typeof e.resourceType !== 'string' || e.resourceType === '') return 'an event has no resourceType';
    if (typeof e.object?.metadata?.name !== 'string') return 'an event carries no resource with metadata.name';
  }
  return undefined;
}

/** journal.log opened for appending. Only the store's commit loop calls it, one call at a time. */
export class JournalFile {
  readonly path: string;
  #fh: FileHandle;

  private constructor(path: string, fh: FileHandle) {
    this.path = path;
    this.#fh = fh;
  }

  /** Cuts a torn tail off first, so new records follow the last whole one. */
  static async open(path: string, validLength: number): Promise<JournalFile> {
    const fh = await open(path, 'a', 0o600);
    try {
      if ((await fh.stat()).size > validLength) {
        await fh.truncate(validLength);
        await fh.sync();
      }
      return new JournalFile(path, fh);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Resolves once the record is on stable storage, never before. */
  async append(record: Buffer): Promise<void> {
    let done = 0;
    while (done < record.length) {
      const { bytesWritten } = await this.#fh.write(record, done, record.length - done);
      done += bytesWritten;
    }
    await this.#fh.datasync();
  }

  /** After a snapshot holds every record: start over empty. fsync, since the size is metadata. */
  async reset(): Promise<void> {
    await this.#fh.truncate(0);
    await this.#fh.sync();
  }

  async close(): Promise<void> {
    await this.#fh.close();
  }
}
