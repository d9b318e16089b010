/* bench/sendzc_bench.c: ringmq-sendzc-bench, whether io_uring's zero-copy
 * send (IORING_OP_SEND_ZC) pays on this host, before the broker uses it.
 *
 * For each write size it streams the same number of bytes over one TCP
 * connection twice, with plain IORING_OP_SEND and with SEND_ZC, and
 * reports throughput, the sender's and the receiver's CPU per GiB, and
 * how many zero-copy notifications the kernel marked as copied
 * (IORING_NOTIF_USAGE_ZC_COPIED): a send the kernel had to copy after
 * all costs the copy plus the notification.  The receiver is a thread of
 * this process reading with recv(2) on 127.0.0.1.  Traffic to any local
 * address, a NIC's included, is delivered inside the kernel, where a
 * zero-copy buffer is copied on delivery; what a real device does needs
 * a peer on another host.
 *
 * Usage: ringmq-sendzc-bench [--mib N] [--sizes S,S,...] [--depth D]
 *                            [--json]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Newer than liburing 2.3's header; the kernel has had them since 6.2. */
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

#define MIB (1024.0 * 1024.0)

struct zc_recv {
	int fd;
	uint64_t want;
	uint64_t got;
	double cpu_s;
	int err;
};

static double
zc_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
zc_thread_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void *
zc_receiver(void *arg)
{
	struct zc_recv *r = arg;
	size_t cap = 1u << 20;
	char *buf = malloc(cap);
	double c0 = zc_thread_cpu();
	while (buf && r->got < r->want) {
		ssize_t n = recv(r->fd, buf, cap, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->err = n < 0 ? errno : EPIPE;
			break;
		}
		r->got += (uint64_t)n;
	}
	r->cpu_s = zc_thread_cpu() - c0;
	free(buf);
	return NULL;
}

/* A connected pair on 127.0.0.1: *out_send and *out_recv. */
static int
zc_pair(int *out_send, int *out_recv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	socklen_t len = sizeof(sa);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(ls, 1) != 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &len) != 0) {
		int e = errno;
		if (ls >= 0)
			close(ls);
		return -e;
	}
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(ls);
		if (s >= 0)
			close(s);
		return -e;
	}
	int r = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	int e = errno;
	close(ls);
	if (r < 0) {
		close(s);
		return -e;
	}
	int one = 1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*out_send = s;
	*out_recv = r;
	return 0;
}

struct zc_result {
	double secs;
	double send_cpu_s;
	double recv_cpu_s;
	uint64_t bytes;
	uint64_t sends;
	uint64_t notifs;
	uint64_t copied;
};

/* Stream `total` bytes in writes of `size` with up to `depth` sends in
 * flight (each its own slice of one buffer, written once and never
 * changed, so a zero-copy send may still be reading it). */
static int
zc_stream(int zc, size_t size, uint64_t total, unsigned depth,
    struct zc_result *res)
{
	int s, r;
	int rc = zc_pair(&s, &r);
	if (rc != 0)
		return rc;
	char *buf = malloc(size * depth);
	if (buf == NULL) {
		close(s);
		close(r);
		return -ENOMEM;
	}
	for (size_t i = 0; i < size * depth; i++)
		buf[i] = (char)(i * 131u);
	struct io_uring ring;
	rc = io_uring_queue_init(depth * 4, &ring, 0);
	if (rc != 0) {
		free(buf);
		close(s);
		close(r);
		return rc;
	}
	struct zc_recv rv = { .fd = r, .want = total };
	pthread_t th;
	pthread_create(&th, NULL, zc_receiver, &rv);
	memset(res, 0, sizeof(*res));
	double t0 = zc_now(), c0 = zc_thread_cpu();
	uint64_t queued = 0, done = 0;
	unsigned notif_wait = 0;
	unsigned *free_slot = calloc(depth, sizeof(*free_slot));
	unsigned nfree = depth;
	for (unsigned i = 0; i < depth; i++)
		free_slot[i] = i;
	/* Sends complete in order on one stream socket; a short send only
	 * happens at an error here (blocking socket, MSG_WAITALL). */
	while (rc == 0 && (done < total || notif_wait > 0)) {
		while (nfree > 0 && queued < total) {
			size_t len = total - queued < size
			    ? (size_t)(total - queued)
			    : size;
			unsigned slot = free_slot[--nfree];
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			if (zc) {
				io_uring_prep_send_zc(sqe, s, buf + slot * size,
				    len, MSG_WAITALL, 0);
				sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
			} else {
				io_uring_prep_send(sqe, s, buf + slot * size,
				    len, MSG_WAITALL);
			}
			io_uring_sqe_set_data64(sqe, slot);
			queued += len;
			res->sends++;
		}
		struct io_uring_cqe *cqe;
		rc = io_uring_submit_and_wait(&ring, 1);
		if (rc < 0)
			break;
		rc = 0;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			n++;
			unsigned slot = (unsigned)io_uring_cqe_get_data64(cqe);
			if (cqe->flags & IORING_CQE_F_NOTIF) {
				res->notifs++;
				if ((uint32_t)cqe->res &
				    IORING_NOTIF_USAGE_ZC_COPIED)
					res->copied++;
				notif_wait--;
				free_slot[nfree++] = slot;
				continue;
			}
			if (cqe->res < 0) {
				rc = cqe->res;
				break;
			}
			done += (uint64_t)cqe->res;
			if (cqe->flags & IORING_CQE_F_MORE)
				notif_wait++; /* the slot is free at the notification */
			else
				free_slot[nfree++] = slot;
		}
		io_uring_cq_advance(&ring, n);
	}
	res->send_cpu_s = zc_thread_cpu() - c0;
	shutdown(s, SHUT_WR);
	pthread_join(th, NULL);
	res->secs = zc_now() - t0;
	res->recv_cpu_s = rv.cpu_s;
	res->bytes = rv.got;
	if (rc == 0 && rv.got != total)
		rc = -(rv.err ? rv.err : EPIPE);
	io_uring_queue_exit(&ring);
	free(free_slot);
	free(buf);
	close(s);
	close(r);
	return rc;
}

int
main(int argc, char **argv)
{
	double mib = 1024;
	unsigned depth = 4;
	int json = 0;
	size_t sizes[16] = { 4096, 16384, 65536, 262144, 1048576 };
	unsigned nsizes = 5;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--json") == 0) {
			json = 1;
		} else if (strcmp(a, "--mib") == 0 && v && atof(v) > 0) {
			mib = atof(v);
			i++;
		} else if (strcmp(a, "--depth") == 0 && v && atoi(v) > 0 &&
		    atoi(v) <= 64) {
			depth = (unsigned)atoi(v);
			i++;
		} else if (strcmp(a, "--sizes") == 0 && v) {
			nsizes = 0;
			char *copy = strdup(v), *save = NULL;
			for (char *t = strtok_r(copy, ",", &save);
			     t && nsizes < 16; t = strtok_r(NULL, ",", &save)) {
				long long n = atoll(t);
				if (n <= 0 || n > (64ll << 20)) {
					fprintf(stderr,
					    "ringmq-sendzc-bench: bad size '%s'\n",
					    t);
					return 2;
				}
				sizes[nsizes++] = (size_t)n;
			}
			free(copy);
			i++;
		} else {
			fprintf(stderr,
			    "usage: ringmq-sendzc-bench [--mib N] [--sizes S,S,...] [--depth D] [--json]\n");
			return 2;
		}
	}
	uint64_t total = (uint64_t)(mib * MIB);
	if (!json)
		printf("%-9s %-8s %9s %14s %14s %10s %10s\n", "size", "send",
		    "MiB/s", "send CPU s/GiB", "recv CPU s/GiB", "notifs",
		    "copied");
	int status = 0;
	for (unsigned k = 0; k < nsizes; k++) {
		for (int zc = 0; zc <= 1; zc++) {
			struct zc_result res;
			int rc = zc_stream(zc, sizes[k], total, depth, &res);
			if (rc != 0) {
				fprintf(stderr,
				    "ringmq-sendzc-bench: %s of %zu bytes: %s\n",
				    zc ? "SEND_ZC" : "SEND", sizes[k],
				    strerror(-rc));
				status = 1;
				continue;
			}
			double gib = (double)res.bytes / (MIB * 1024.0);
			if (json)
				printf("{\"size\":%zu,\"op\":\"%s\",\"mib_per_"
				       "s\":"
				       "%.1f,\"send_cpu_s_per_gib\":%.4f,"
				       "\"recv_cpu_s_per_gib\":%.4f,\"sends\":%"
				       "llu,"
				       "\"notifs\":%llu,\"copied\":%llu}\n",
				    sizes[k], zc ? "send_zc" : "send",
				    (double)res.bytes / MIB / res.secs,
				    res.send_cpu_s / gib, res.recv_cpu_s / gib,
				    (unsigned long long)res.sends,
				    (unsigned long long)res.notifs,
				    (unsigned long long)res.copied);
			else
				printf("%-9zu %-8s %9.0f %14.3f %14.3f %10llu "
				       "%10llu\n",
				    sizes[k], zc ? "SEND_ZC" : "SEND",
				    (double)res.bytes / MIB / res.secs,
				    res.send_cpu_s / gib, res.recv_cpu_s / gib,
				    (unsigned long long)res.notifs,
				    (unsigned long long)res.copied);
			/* Every zero-copy send ends with one notification. */
			if (zc && res.notifs != res.sends) {
				fprintf(stderr,
				    "ringmq-sendzc-bench: %llu sends but %llu notifications\n",
				    (unsigned long long)res.sends,
				    (unsigned long long)res.notifs);
				status = 1;
			}
		}
	}
	return status;
}
