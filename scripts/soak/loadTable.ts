// The write load's table, named once for the load process, the soak and its content hashes.

/** The table the write load inserts into; the soak's content hashes leave it out. */
export const LOAD_TABLE = 'soak_load';
