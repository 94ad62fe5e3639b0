/* quickstart.c - the quick start at the top of bus.h, run against a fresh bus in
 * /dev/shm (BUS_PATH points there; removed afterwards).  The code between the
 * markers is bus.h's, verbatim: compile.quickstart_matches_header fails when they
 * differ.  Built with -std=c11 -Wall -Wextra -Wpedantic -Wsign-conversion
 * -Wstrict-prototypes -Werror, like a careful user's program. */
#include <bus.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int quickstart(void)
{
    /* BEGIN QUICK START */
    bus_t *bus;  bus_producer_t *p;  bus_consumer_t *c;  bus_record_t r[16];
    bus_topic_config_t tc;  bus_consumer_config_t cc;
    if (bus_open(&bus, NULL, NULL) < 0) return 1;      // $BUS_PATH or /dev/shm/bus
    bus_topic_config_init(&tc);  tc.partitions = 3;
    bus_topic_create(bus, "orders", &tc);               // -EEXIST if already there
    bus_producer_open(&p, bus, "orders", NULL);
    bus_send(p, "alice", 5, "42 apples", 9, NULL);      // key picks the partition
    bus_consumer_config_init(&cc);  cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    bus_consumer_open(&c, bus, &cc);
    bus_assign(c, "orders", NULL, 0);                   // all partitions
    int n = bus_poll(c, r, 16, 1000);                   // up to 16 records, 1 s
    for (int i = 0; i < n; i++)
        printf("%d/%lld %.*s\n", r[i].partition, (long long)r[i].offset,
               (int)r[i].value_len, (const char *)r[i].value);
    bus_consumer_close(c);  bus_producer_close(p);  bus_close(bus);
    /* END QUICK START */
    return n == 1 ? 0 : 1;
}

/* rm -r of directory `name` under `parent`, never following a symbolic link. */
static void remove_tree(int parent, const char *name)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        DIR *d = fdopendir(fd);
        if (d != NULL) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                struct stat st;
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
                    remove_tree(fd, e->d_name);
                else
                    unlinkat(fd, e->d_name, 0);
            }
            closedir(d); /* closes fd too */
        } else {
            close(fd);
        }
    }
    unlinkat(parent, name, AT_REMOVEDIR);
}

int main(void)
{
    char dir[] = "/dev/shm/bus-quickstart-XXXXXX";
    char path[sizeof dir + 8];
    if (mkdtemp(dir) == NULL) {
        perror("quickstart: mkdtemp /dev/shm/bus-quickstart-XXXXXX");
        return 1;
    }
    snprintf(path, sizeof path, "%s/bus", dir);
    setenv("BUS_PATH", path, 1);
    int rc = quickstart();
    remove_tree(AT_FDCWD, dir);
    if (rc != 0)
        fprintf(stderr, "quickstart: the quick start did not read back its one record\n");
    return rc;
}
