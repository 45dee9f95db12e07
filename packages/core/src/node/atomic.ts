import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const tempName = (path: string): string =>
  join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);

/**
 * Writes `bytes` to `path` so a reader (or a crash) sees the old file or the whole new one, never a
 * part: write to a temporary name in the same directory (rename is atomic only within a
 * filesystem), fsync the data, rename over `path`, then fsync the directory so the rename is durable.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = tempName(path);
  const fh = await open(tmp, 'wx');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fsyncDir(dirname(path));
}

/** Makes a directory's entries (renames, creations) durable. Some platforms cannot open a directory; that is not an error. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Windows and some filesystems refuse fsync on directories; the rename itself still happened.
  } finally {
    await fh?.close().catch(() => {});
  }
}
