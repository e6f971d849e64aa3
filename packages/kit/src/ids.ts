import { v7 } from 'uuid';

/** A new time-ordered UUID (v7), the id of every Gatehouse object. */
export const newId = (): string => v7();
