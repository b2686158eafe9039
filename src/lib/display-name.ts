/**
 * The seed's rule for how a person is named (GraphQL `User.displayName`, emails): `First Last` when a first name is
 * set (each part trimmed, the last omitted when blank), else the username.
 */
export function displayName(u: { username: string; firstName?: string | null; lastName?: string | null }): string {
  const first = u.firstName?.trim();
  if (!first) return u.username;
  const last = u.lastName?.trim();
  return last ? `${first} ${last}` : first;
}
