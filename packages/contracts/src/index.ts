export * from './errors.ts';
export * from './http.ts';
export * from './mail.ts';
export * from './messages.ts';
export * from './objects.ts';
export * from './subjects.ts';
