import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** A temp name next to `file`, unique across processes and concurrent writers in one process. */
export function tempPathFor(file: string): string {
  return `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

function commit(fd: number, tmp: string, file: string): void {
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, file);
}

function abandon(fd: number, tmp: string): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
  rmSync(tmp, { force: true });
}

/**
 * Writes a file whole or not at all: `write` gets a descriptor of a temp file next to `file`,
 * which is synced and renamed over `file` (removed on failure).
 */
export async function writeAtomically<T>(file: string, write: (fd: number) => Promise<T> | T): Promise<T> {
  const tmp = tempPathFor(file);
  const fd = openSync(tmp, 'w');
  try {
    const result = await write(fd);
    commit(fd, tmp, file);
    return result;
  } catch (err) {
    abandon(fd, tmp);
    throw err;
  }
}

/** Synchronous variant of writeAtomically. */
export function writeAtomicallySync(file: string, write: (fd: number) => void): void {
  const tmp = tempPathFor(file);
  const fd = openSync(tmp, 'w');
  try {
    write(fd);
    commit(fd, tmp, file);
  } catch (err) {
    abandon(fd, tmp);
    throw err;
  }
}

export function writeFully(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

/** Writes a file (and its folder if missing) whole or not at all. */
export function writeFileAtomic(file: string, content: string | Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true });
  writeAtomicallySync(file, (fd) =>
    writeFully(fd, typeof content === 'string' ? Buffer.from(content) : content),
  );
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}
