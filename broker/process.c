/* broker/process.c: the pid file and giving up root (process.h), as
 * Mosquitto's pid_file and user do. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "process.h"

int
rmq_process_user_find(const char *name, struct rmq_process_user *u, char *err,
    size_t errlen)
{
	memset(u, 0, sizeof(*u));
	if (name[0] == '\0' || geteuid() != 0)
		return 0;
	errno = 0;
	struct passwd *pw = getpwnam(name);
	if (pw == NULL) {
		snprintf(err, errlen, "user %s: %s", name,
		    errno ? strerror(errno) : "no such user");
		return -1;
	}
	snprintf(u->name, sizeof(u->name), "%s", pw->pw_name);
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	return 1;
}

int
rmq_process_user_become(const struct rmq_process_user *u, char *err,
    size_t errlen)
{
	const char *call;
	if (setgid(u->gid) != 0)
		call = "setgid";
	else if (initgroups(u->name, u->gid) != 0)
		call = "initgroups";
	else if (setuid(u->uid) != 0)
		call = "setuid";
	else if (u->uid != 0 && setuid(0) == 0) {
		snprintf(err, errlen, "user %s: root could be taken back",
		    u->name);
		return -EPERM;
	} else
		return 0;
	int e = errno;
	snprintf(err, errlen, "user %s: %s: %s", u->name, call, strerror(e));
	return -e;
}

int
rmq_process_pid_write(const char *path, char *err, size_t errlen)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, (size_t)n) != n) {
		int e = errno ? errno : EIO;
		snprintf(err, errlen, "pid_file %s: %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	if (close(fd) != 0) {
		int e = errno;
		snprintf(err, errlen, "pid_file %s: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

int
rmq_process_pid_remove(const char *path)
{
	return unlink(path) == 0 ? 0 : -errno;
}
