import { open, type FileHandle } from 'node:fs/promises';
import { KarakoramError } from '../errors.js';
import type { ByteSource } from '../safetensors/reader.js';

/** A ByteSource backed by an open file handle; `close` releases the handle. */
export interface FileSource extends ByteSource {
  readonly path: string;
  /** Closes the file handle; reads after close throw. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * A ByteSource over a file, read with positioned reads on one open handle, so a reader fetches
 * only the bytes it asks for. Close it when done (SafetensorsReader.close() does).
 */
export async function fileSource(path: string): Promise<FileSource> {
  let fh: FileHandle | undefined = await open(path, 'r');
  const size = (await fh.stat()).size;
  return {
    path,
    size,
    async read(offset, length) {
      if (!fh) throw new KarakoramError('io', 'read after close', path);
      if (offset < 0 || offset + length > size) throw new KarakoramError('io', `read of ${length} bytes at ${offset} is outside the file (${size} bytes)`, path);
      const buf = new Uint8Array(length);
      let got = 0;
      // A positioned read may return fewer bytes than asked; loop until full or end of file.
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) throw new KarakoramError('io', `file ended after ${offset + got} bytes, expected ${offset + length} (truncated while open?)`, path);
        got += bytesRead;
      }
      return buf;
    },
    async close() {
      const h = fh;
      fh = undefined;
      await h?.close();
    },
  };
}
