/**
 * Every error Karakoram raises on purpose is a KarakoramError: it says what was wrong (`message`),
 * where (`where`: an op name, a config path, a file and tensor name) and carries a stable `code`
 * so callers and the CLI can print one clean line instead of a stack trace.
 */
export class KarakoramError extends Error {
  readonly code: string;
  readonly where: string | undefined;
  constructor(code: string, message: string, where?: string) {
    super(where ? `${where}: ${message}` : message);
    this.name = 'KarakoramError';
    this.code = code;
    this.where = where;
  }
}

export class ShapeError extends KarakoramError {
  constructor(op: string, message: string) {
    super('shape', message, op);
    this.name = 'ShapeError';
  }
}

export class ConfigError extends KarakoramError {
  readonly issues: readonly { path: string; message: string }[];
  constructor(message: string, issues: readonly { path: string; message: string }[], where?: string) {
    super('config', message, where);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export class SafetensorsError extends KarakoramError {
  constructor(message: string, where?: string) {
    super('safetensors', message, where);
    this.name = 'SafetensorsError';
  }
}

/** Formats a shape for error messages, e.g. `[2, 3]`. */
export const fmtShape = (s: readonly number[]): string => `[${s.join(', ')}]`;
