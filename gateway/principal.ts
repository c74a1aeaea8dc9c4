/** Who is asking: the token's subject joined with the platform's own user record. */
export type Role = 'researcher' | 'agency' | 'regulator';

export interface Principal {
  /** The token subject (`sub`). */
  readonly subject: string;
  readonly name: string;
  readonly role: Role;
  readonly org: string;
  /** restricted users may browse and review their record, but not reach data. */
  readonly restricted: boolean;
}
