/**
 * Server-sent events: splits a byte stream into events and yields each event's data (the
 * `data:` lines joined by newlines). Comments (`:`) and other fields are skipped.
 */
export async function* parseSSE(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = '';
  let data: string[] = [];
  const line = function* (l: string): Generator<string> {
    if (l === '') {
      if (data.length) yield data.join('\n');
      data = [];
      return;
    }
    if (l.startsWith(':')) return;
    const colon = l.indexOf(':');
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? '' : l.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
  };
  for await (const bytes of body) {
    buf += dec.decode(bytes, { stream: true });
    let nl: number;
    while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
      if (buf[nl] === '\r' && nl === buf.length - 1) break; // maybe the first half of \r\n
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
      yield* line(l);
    }
  }
  buf += dec.decode();
  if (buf) yield* line(buf);
  yield* line('');
}
