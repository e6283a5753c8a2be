// /sbin/init of the e2e guest's encrypted root file system. systemd in the
// initramfs switches root to it once the root volume is open; it prints what
// the test checks on the console, then powers the VM off. Static, so that the
// root file system needs no libraries.
//
// Lines it prints (parsed by tests/e2e/lib/checks.sh):
//   CVMUNLOCK-E2E-ROOT <source of /> <fstype>   from /proc/self/mountinfo
//   CVMUNLOCK-E2E-DM <name> <uuid>              the dm device under /
//   CVMUNLOCK-E2E-DMTABLE <target> <cipher>     its live table, from the kernel
//                                               (DM_TABLE_STATUS): what dm-crypt
//                                               really does, whatever a header says
//   CVMUNLOCK-E2E-MOUNT <path> <fstype>|absent  securityfs, configfs (mounted
//                                               in the initrd, moved along)
//   CVMUNLOCK-E2E-PCR <bank> <n> <hex>          PCRs 7 and 15 after the initrd
//   CVMUNLOCK-E2E-VERDICT <json on one line>    /run/cvmunlock/verdict.json
//   CVMUNLOCK-E2E-MARKER root file system reached
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static FILE* console;

// Prints PREFIX and the first line of PATH, or "(absent)".
static void print_first_line(const char* prefix, const char* path) {
    char line[4096] = "(absent)";
    FILE* f = fopen(path, "r");
    if (f != NULL) {
        if (fgets(line, sizeof line, f) == NULL) strcpy(line, "(empty)");
        fclose(f);
    }
    line[strcspn(line, "\n")] = '\0';
    fprintf(console, "%s%s\n", prefix, line);
}

// Prints PREFIX and the whole of PATH on one line (newlines become spaces).
static void print_joined(const char* prefix, const char* path) {
    FILE* f = fopen(path, "r");
    if (f == NULL) {
        fprintf(console, "%s(absent)\n", prefix);
        return;
    }
    fputs(prefix, console);
    int c;
    while ((c = fgetc(f)) != EOF) fputc(c == '\n' ? ' ' : c, console);
    fclose(f);
    fputc('\n', console);
}

// Finds MOUNT_POINT in /proc/self/mountinfo; fills SOURCE and FSTYPE (the
// last match wins: mounts stack). Returns 0 when it is not mounted.
static int find_mount(const char* mount_point, char source[512], char fstype[64]) {
    char line[4096];
    int found = 0;
    FILE* f = fopen("/proc/self/mountinfo", "r");
    if (f == NULL) return 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char point[512], type[64], src[512];
        // id parent major:minor root mount-point options ... - type source ...
        const char* dash = strstr(line, " - ");
        if (dash == NULL || sscanf(line, "%*s %*s %*s %*s %511s", point) != 1) continue;
        if (strcmp(point, mount_point) != 0 || sscanf(dash, " - %63s %511s", type, src) != 2) continue;
        strcpy(source, src);
        strcpy(fstype, type);
        found = 1;
    }
    fclose(f);
    return found;
}

static void print_mounts(void) {
    char source[512] = "?", fstype[64] = "?";
    find_mount("/", source, fstype);
    fprintf(console, "CVMUNLOCK-E2E-ROOT %s %s\n", source, fstype);
    static const char* const points[] = {"/sys/kernel/security", "/sys/kernel/config"};
    for (size_t i = 0; i < sizeof points / sizeof points[0]; ++i) {
        if (find_mount(points[i], source, fstype)) {
            fprintf(console, "CVMUNLOCK-E2E-MOUNT %s %s\n", points[i], fstype);
        } else {
            fprintf(console, "CVMUNLOCK-E2E-MOUNT %s absent\n", points[i]);
        }
    }
}

// The target type and cipher of dm device NAME's table, read from the kernel
// with DM_TABLE_STATUS (DM_STATUS_TABLE_FLAG: the table, not the status). Only
// the first word of the parameters is printed: the key may follow.
static void print_dm_table(const char* name) {
    static _Alignas(8) char buf[16384];
    memset(buf, 0, sizeof buf);
    struct dm_ioctl* io = (struct dm_ioctl*)buf;
    io->version[0] = DM_VERSION_MAJOR;
    io->data_size = sizeof buf;
    io->data_start = sizeof(struct dm_ioctl);
    io->flags = DM_STATUS_TABLE_FLAG;
    snprintf(io->name, sizeof io->name, "%s", name);
    int fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
    if (fd < 0 || ioctl(fd, DM_TABLE_STATUS, io) != 0 || io->target_count != 1) {
        fprintf(console, "CVMUNLOCK-E2E-DMTABLE (unreadable)\n");
        if (fd >= 0) close(fd);
        return;
    }
    close(fd);
    const struct dm_target_spec* spec = (const struct dm_target_spec*)(buf + io->data_start);
    char cipher[128] = "";
    sscanf((const char*)(spec + 1), "%127s", cipher);
    fprintf(console, "CVMUNLOCK-E2E-DMTABLE %.16s %s\n", spec->target_type, cipher);
}

// The device-mapper name and UUID of the block device under "/".
static void print_root_dm(void) {
    struct stat st;
    char path[128], name[256] = "?", uuid[256] = "?";
    if (stat("/", &st) != 0) return;
    snprintf(path, sizeof path, "/sys/dev/block/%u:%u/dm/name", major(st.st_dev), minor(st.st_dev));
    FILE* f = fopen(path, "r");
    if (f == NULL) {
        fprintf(console, "CVMUNLOCK-E2E-DM (not a dm device: %u:%u)\n", major(st.st_dev), minor(st.st_dev));
        return;
    }
    if (fgets(name, sizeof name, f) != NULL) name[strcspn(name, "\n")] = '\0';
    fclose(f);
    snprintf(path, sizeof path, "/sys/dev/block/%u:%u/dm/uuid", major(st.st_dev), minor(st.st_dev));
    f = fopen(path, "r");
    if (f != NULL) {
        if (fgets(uuid, sizeof uuid, f) != NULL) uuid[strcspn(uuid, "\n")] = '\0';
        fclose(f);
    }
    fprintf(console, "CVMUNLOCK-E2E-DM %s %s\n", name, uuid);
    print_dm_table(name);
}

int main(void) {
    int fd = open("/dev/console", O_WRONLY | O_NOCTTY);
    console = fd >= 0 ? fdopen(fd, "w") : stdout;
    setvbuf(console, NULL, _IOLBF, 0);

    print_mounts();
    print_root_dm();
    static const char* const pcrs[] = {"7", "15"};
    for (size_t i = 0; i < sizeof pcrs / sizeof pcrs[0]; ++i) {
        char path[128], prefix[64];
        snprintf(path, sizeof path, "/sys/class/tpm/tpm0/pcr-sha256/%s", pcrs[i]);
        snprintf(prefix, sizeof prefix, "CVMUNLOCK-E2E-PCR sha256 %s ", pcrs[i]);
        print_first_line(prefix, path);
    }
    print_joined("CVMUNLOCK-E2E-VERDICT ", "/run/cvmunlock/verdict.json");
    fprintf(console, "CVMUNLOCK-E2E-MARKER root file system reached\n");
    fflush(console);

    sync();
    reboot(RB_POWER_OFF);
    return 1;
}
