// The database error rules are shared by every service: they live in @gatehouse/db.
export { isUnavailable, uniqueViolation, withDatabaseErrors } from '@gatehouse/db';
