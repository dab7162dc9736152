/*
 * migrations.h - the schema migrations from sql/, embedded at build time.
 * Migration N brings the index from user_version N-1 to N.
 */
#ifndef CKPTD_MIGRATIONS_H
#define CKPTD_MIGRATIONS_H

struct migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct migration migrations[];
extern const unsigned migrations_count;

#endif
