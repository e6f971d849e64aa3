/** A user, by project and id: whose factors, challenges and data every store and service of mfa means. */
export interface UserRef {
  projectId: string;
  userId: string;
}
