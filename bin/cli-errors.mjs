// Failures of the switchboard CLI: expected ones print one friendly line, usage errors add the usage text.

/** An expected failure: printed as one friendly message, never with a stack trace. */
export class CliError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Bad arguments: exit code 2; the dispatcher appends the usage of `command` (or the main usage). */
export class UsageError extends CliError {
  constructor(message, command) {
    super(message, 2);
    this.command = command;
  }
}

export const usageError = (message, command) => new UsageError(message, command);
