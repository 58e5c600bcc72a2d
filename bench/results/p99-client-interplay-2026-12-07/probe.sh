#!/bin/bash
SP=$1; CP=$2; T=${3:-3}
snap() { head -3 /proc/stat | tail -2; for p in $SP $CP; do echo "proc $p $(awk '{print $14+$15}' /proc/$p/stat)"; done; }
snap > /tmp/p99/t0
EV=context-switches,cpu-migrations,raw_syscalls:sys_enter,task-clock,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvfrom,syscalls:sys_enter_write,syscalls:sys_enter_read,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_pwait
if [ -n "$NOPERF" ]; then sleep $T; else
perf stat -x, -e $EV -p $SP -o /tmp/p99/srv.perf -- sleep $T &
perf stat -x, -e $EV -p $CP -o /tmp/p99/cli.perf -- sleep $T &
wait; fi
snap > /tmp/p99/t1
