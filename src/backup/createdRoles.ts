// The roles a restore created, as results report them and people read them; no I/O.

/** A role a restore created: whether it may log in, and whether it got the password hash the backup recorded. */
export interface CreatedRole {
  name: string;
  login: boolean;
  password: boolean;
}

/** One created role in words: what it may do, so that nobody is told "NOLOGIN" of a role that can log in. */
export function describeCreatedRole(role: CreatedRole): string {
  if (!role.login) return `${role.name} (NOLOGIN)`;
  return role.password ? `${role.name} (LOGIN, with the password hash recorded in the backup)` : `${role.name} (LOGIN, no password: set one with ALTER ROLE ... PASSWORD)`;
}
