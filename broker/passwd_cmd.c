/* broker/passwd_cmd.c: `ringmq passwd`, mosquitto_passwd's job: add,
 * change or remove a user of a password file (auth/passwd.h), so an
 * operator needs no Mosquitto tools to manage RingMQ's file.
 *
 *     ringmq passwd [-c | -D] [-b] [-S] [-I ROUNDS] FILE USER [PASSWORD]
 *
 * -S writes a SCRAM-SHA-256 entry (the user may then log in with MQTT 5.0
 * enhanced authentication as well as with a password; Mosquitto cannot
 * read such a line).
 *
 * Without -b the password is asked for twice on the terminal, echo off;
 * when standard input is not a terminal, its first line is the password
 * (for scripts that must not put it on a command line).
 */
#include "passwd_cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "passwd.h"

static void
passwd_usage(FILE *out)
{
	fprintf(out,
	    "usage: ringmq passwd [-c | -D] [-b] [-S] [-I ROUNDS] FILE USER [PASSWORD]\n"
	    "  -c         make FILE anew (what it held is lost)\n"
	    "  -D         remove USER from FILE\n"
	    "  -b         PASSWORD is on the command line (visible to ps)\n"
	    "  -S         a SCRAM-SHA-256 entry, for MQTT 5.0 enhanced\n"
	    "             authentication as well as passwords (not Mosquitto's)\n"
	    "  -I ROUNDS  PBKDF2 rounds (%u, with -S %u; Mosquitto 2.1 writes\n"
	    "             210000)\n"
	    "Without -b the password is asked for on the terminal, or read as\n"
	    "the first line of standard input when that is not a terminal.\n",
	    RMQ_PASSWD_DEFAULT_ITERATIONS, RMQ_SCRAM_DEFAULT_ITERATIONS);
}

/* One line from fd into buf (the newline dropped); echo off when it is a
 * terminal.  Returns 0, or -1. */
static int
passwd_read_line(FILE *in, const char *prompt, char *buf, size_t len)
{
	int fd = fileno(in);
	struct termios old, quiet;
	int tty = isatty(fd) && tcgetattr(fd, &old) == 0;
	if (tty) {
		fprintf(stderr, "%s", prompt);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	char *got = fgets(buf, (int)len, in);
	if (tty) {
		tcsetattr(fd, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (got == NULL)
		return -1;
	size_t n = strcspn(buf, "\r\n");
	if (buf[n] == '\0' && n + 1 == len)
		return -1; /* longer than the buffer */
	buf[n] = '\0';
	return 0;
}

int
rmq_passwd_command(int argc, char **argv)
{
	int create = 0, delete = 0, batch = 0, scram = 0;
	unsigned long rounds = 0;
	int i = 2;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (strcmp(argv[i], "-c") == 0)
			create = 1;
		else if (strcmp(argv[i], "-D") == 0)
			delete = 1;
		else if (strcmp(argv[i], "-b") == 0)
			batch = 1;
		else if (strcmp(argv[i], "-S") == 0)
			scram = 1;
		else if (strcmp(argv[i], "-I") == 0 && i + 1 < argc) {
			char *end;
			errno = 0;
			rounds = strtoul(argv[++i], &end, 10);
			if (errno || *end || rounds == 0 ||
			    rounds > RMQ_PASSWD_MAX_ITERATIONS) {
				fprintf(stderr,
				    "ringmq passwd: -I takes a whole number from 1 to %u\n",
				    RMQ_PASSWD_MAX_ITERATIONS);
				return 2;
			}
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			passwd_usage(stdout);
			return 0;
		} else {
			passwd_usage(stderr);
			return 2;
		}
	}
	int rest = argc - i;
	if ((create && delete) || rest < 2 || rest > 3 ||
	    (rest == 3) != (batch && !delete)) {
		passwd_usage(stderr);
		return 2;
	}
	const char *file = argv[i], *user = argv[i + 1];
	char pw[1024], again[1024], err[512];
	const char *pass = NULL;
	if (!delete) {
		if (batch) {
			pass = argv[i + 2];
		} else {
			if (passwd_read_line(stdin, "Password: ", pw,
				sizeof(pw)) != 0) {
				fprintf(stderr,
				    "ringmq passwd: no password read\n");
				return 1;
			}
			if (isatty(fileno(stdin)) &&
			    (passwd_read_line(stdin, "Password again: ", again,
				 sizeof(again)) != 0 ||
				strcmp(pw, again) != 0)) {
				fprintf(stderr,
				    "ringmq passwd: the passwords differ\n");
				return 1;
			}
			pass = pw;
		}
	}
	if (create && unlink(file) != 0 && errno != ENOENT) {
		fprintf(stderr, "ringmq passwd: %s: %s\n", file,
		    strerror(errno));
		return 1;
	}
	int rc = rmq_passwd_update_file_as(file, user, pass, (unsigned)rounds,
	    scram, err, sizeof(err));
	memset(pw, 0, sizeof(pw));
	memset(again, 0, sizeof(again));
	if (rc != 0) {
		fprintf(stderr, "ringmq passwd: %s\n", err);
		return 1;
	}
	return 0;
}
