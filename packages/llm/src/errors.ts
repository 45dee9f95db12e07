import { KarakoramError } from '@karakoram/core';

/**
 * A provider call that failed for good: after its retries (retryable failures: network errors,
 * timeouts, 408/409/429/5xx, malformed responses) or at once (other 4xx). The message names the
 * URL, the attempts and the last status or error.
 */
export class ProviderError extends KarakoramError {
  readonly url: string;
  readonly attempts: number;
  readonly status: number | undefined;
  readonly retryable: boolean;
  constructor(message: string, info: { url: string; attempts: number; status?: number; retryable: boolean }) {
    super('provider', message);
    this.name = 'ProviderError';
    this.url = info.url;
    this.attempts = info.attempts;
    this.status = info.status;
    this.retryable = info.retryable;
  }
}
