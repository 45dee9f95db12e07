/** Keeps queue workers (rephrase, synth) running until SIGINT/SIGTERM, then closes them. */
export async function runWorkersUntilSignal(
  w: { workers: readonly unknown[]; close(): Promise<void> },
  queueName: string,
  url: string,
  log: (s: string) => void,
): Promise<void> {
  log(`${w.workers.length} worker(s) on queue ${queueName} at ${url}; Ctrl-C to stop`);
  await new Promise<void>((resolve) => {
    const stop = (): void => void w.close().then(resolve, resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
