/** Streaming reader for newline-delimited files, without holding the whole file in memory. */
import type { FileHandle } from 'node:fs/promises';

const CHUNK = 1 << 20;
const NEWLINE = 0x0a;

export interface LineScan {
  /** Byte offset just past the last complete line (its newline). */
  readonly completeBytes: number;
  /** Bytes after the last newline: a write that never completed, or a tail being written. */
  readonly tailBytes: number;
  readonly lines: number;
}

/**
 * Calls `onLine` with each complete line (newline excluded) and its byte offset, in order,
 * reading at most `limitBytes` (default: to the end). The line's bytes are only valid during
 * the call. A callback returning `false` stops the scan.
 */
export async function scanLines(
  fh: FileHandle,
  onLine: (line: Uint8Array, offset: number) => boolean | undefined,
  limitBytes = Number.POSITIVE_INFINITY,
): Promise<LineScan> {
  let carry: Buffer = Buffer.alloc(0);
  let carryOffset = 0;
  let position = 0;
  let lines = 0;
  const chunk = Buffer.allocUnsafe(CHUNK);
  for (;;) {
    const want = Math.min(CHUNK, limitBytes - position);
    if (want <= 0) break;
    const { bytesRead } = await fh.read(chunk, 0, want, position);
    if (bytesRead === 0) break;
    position += bytesRead;
    const buf =
      carry.length > 0
        ? Buffer.concat([carry, chunk.subarray(0, bytesRead)])
        : chunk.subarray(0, bytesRead);
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(NEWLINE, start);
      if (nl < 0) break;
      lines++;
      if (onLine(buf.subarray(start, nl), carryOffset + start) === false) {
        return { completeBytes: carryOffset + nl + 1, tailBytes: 0, lines };
      }
      start = nl + 1;
    }
    carry = Buffer.from(buf.subarray(start));
    carryOffset += start;
  }
  return { completeBytes: carryOffset, tailBytes: carry.length, lines };
}
