export * from './audit.ts';
export * from './errors.ts';
export * from './fields.ts';
export * from './http.ts';
export * from './mail.ts';
export * from './messages/index.ts';
export * from './objects.ts';
export * from './subjects.ts';
