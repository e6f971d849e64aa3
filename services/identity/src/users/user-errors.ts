import { AppError } from '@gatehouse/kit';

/** One message for unknown email and wrong password alike, so the answer reveals nothing. */
export const invalidCredentials = () => new AppError('invalid_credentials', 'invalid email or password');

export const notFound = () => new AppError('not_found', 'no such user');
