import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

/** A temp name next to `file`, unique across processes and concurrent writers in one process. */
export function tempPathFor(file: string): string {
  return `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
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
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, file);
    return result;
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw err;
  }
}

export function writeFully(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

/** Synchronous variant of writeAtomically. */
export function writeAtomicallySync(file: string, write: (fd: number) => void): void {
  const tmp = tempPathFor(file);
  const fd = openSync(tmp, 'w');
  try {
    write(fd);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, file);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw err;
  }
}
