/* broker/platform/placement.c: which loop takes a new connection (placement.h).
 *
 * The choice by CPU is a classic BPF program on the listeners'
 * SO_REUSEPORT group, run by the kernel for each handshake: it loads the
 * current CPU and returns the index of the loop pinned there.  An index
 * past the group's sockets makes the kernel fall back to its hash, which
 * is what a CPU without a loop gets.  Classic BPF needs no privilege.
 */
#include "placement.h"

#include <errno.h>
#include <linux/filter.h>
#include <string.h>
#include <sys/socket.h>

#include "bounds.h"

int
rmq_placement_parse(const char *s, enum rmq_placement *out)
{
	if (strcmp(s, "cpu") == 0)
		*out = RMQ_PLACE_CPU;
	else if (strcmp(s, "hash") == 0)
		*out = RMQ_PLACE_HASH;
	else
		return -1;
	return 0;
}

int
rmq_placement_by_cpu(const int *cpu, unsigned n)
{
	if (n < 2)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		if (cpu[i] < 0)
			return 0;
		for (unsigned j = 0; j < i; j++)
			if (cpu[j] == cpu[i])
				return 0;
	}
	return 1;
}

int
rmq_placement_attach(int fd, const int *cpu, unsigned n)
{
	struct sock_filter f[2 + 2 * RMQ_MAX_WORKERS];
	unsigned k = 0;
	if (n > RMQ_MAX_WORKERS)
		return -EINVAL;
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    (uint32_t)(SKF_AD_OFF + SKF_AD_CPU));
	for (unsigned i = 0; i < n; i++) {
		/* cpu == cpu[i]: return i; else go on to the next test. */
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
		    (uint32_t)cpu[i], 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, i);
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, UINT32_MAX);
	struct sock_fprog prog = { .len = (unsigned short)k, .filter = f };
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
		sizeof(prog)) != 0)
		return -errno;
	return 0;
}

unsigned
rmq_placement_balance(const uint32_t *nconns, unsigned n, unsigned here)
{
	uint64_t total = 0;
	unsigned least = here;
	for (unsigned i = 0; i < n; i++) {
		total += nconns[i];
		if (nconns[i] < nconns[least])
			least = i;
	}
	uint64_t slack = total / n / 8;
	if (slack < RMQ_PLACEMENT_SLACK_MIN)
		slack = RMQ_PLACEMENT_SLACK_MIN;
	return nconns[here] >= nconns[least] + slack ? least : here;
}
