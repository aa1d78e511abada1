/**
 * Owner-only permissions on the SQLite files: they hold every device's node secrets and the
 * WNS access token. SQLite creates a new file with the process umask's permissions (0644
 * usually) and its `-wal` and `-shm` files with the database's, so the database is created
 * (and, if it already exists, tightened) to 0600 before SQLite opens it, and the other two
 * are tightened once they exist.
 *
 * @module
 */

/** Read and write for the owner only. */
export const DATABASE_FILE_MODE = 0o600;

/** The files SQLite keeps beside the database in WAL mode. */
const COMPANIONS = ["", "-wal", "-shm", "-journal"];

/** Whether `path` names a file at all (not SQLite's private in-memory database). */
function isFile(path: string): boolean {
  return path !== "" && path !== ":memory:" && !path.startsWith("file:");
}

/** Creates the database file empty with mode 0600 if it does not exist, or makes it 0600. */
export function prepareDatabaseFile(path: string): void {
  if (!isFile(path)) return;
  try {
    Deno.openSync(path, { create: true, write: true, mode: DATABASE_FILE_MODE }).close();
  } catch {
    // Not ours to create (a read-only directory, say): SQLite reports it better.
    return;
  }
  restrictDatabaseFiles(path);
}

/**
 * Makes the database and those of its companions that exist owner-only (an older
 * deployment's may be 0644).
 */
export function restrictDatabaseFiles(path: string): void {
  if (!isFile(path)) return;
  for (const suffix of COMPANIONS) {
    try {
      const mode = Deno.statSync(path + suffix).mode;
      if (mode !== null && (mode & 0o777) !== DATABASE_FILE_MODE) {
        Deno.chmodSync(path + suffix, DATABASE_FILE_MODE);
      }
    } catch {
      // Absent, or not ours: nothing to tighten.
    }
  }
}
