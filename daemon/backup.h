/*
 * backup.h - `ckptd backup`: a consistent copy of a data directory, taken
 * while a daemon may be serving from it.
 */
#ifndef CKPTD_BACKUP_H
#define CKPTD_BACKUP_H

/* Run `ckptd backup --data DIR --to DIR` with main's argc/argv (argv[1] is
 * "backup"). Prints a summary on stdout and errors on stderr. Returns the
 * exit status: 0 done, 1 the backup failed (or the target is not empty),
 * 2 bad usage. */
int backup_command(int argc, char **argv);

#endif
