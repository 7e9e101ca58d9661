/**
 * A problem with the user's input or environment (not a bug): the CLI prints
 * its one-line message without a stack trace and exits with code 2.
 * Messages name the file/position, the cause and the fix.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** True for errors whose message is meant for the user as is. */
export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
