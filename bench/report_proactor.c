/* report_proactor.c — the report's "reactor or proactor" sections: the echo
 * server in both models side by side on every implementation, with system
 * calls per request, and the proactor-over-reactor ratios per backend;
 * then pingpong (one message in flight) in both models. */
#include "bench.h"

static const bench_panel proactor_bars[] = {
    {"reactor", "rps", "mode=closed conc=100 bytes=1024 engine=readiness",
     NULL},
    {"proactor, emulated", "rps",
     "mode=closed conc=100 bytes=1024 engine=emulated", NULL},
    {"proactor, io_uring", "rps",
     "mode=closed conc=100 bytes=1024 engine=io_uring", NULL},
};
static const bench_panel proactor_ratio_bars[] = {
    {"io_uring proactor / reactor", "uring_over_reactor",
     "mode=closed conc=100 bytes=1024", NULL},
    {"emulated proactor / reactor", "emulated_over_reactor",
     "mode=closed conc=100 bytes=1024", NULL},
};
static const bench_plot proactor_plots[] = {
    {BENCH_PLOT_BARS, "proactor_echo",
     "echo, 100 connections, 1 KiB: reactor or proactor", "", "requests/s",
     "proactor_echo: requests per second by model, per implementation", 0, 0, 1,
     proactor_bars, BENCH_COUNT(proactor_bars)},
    {BENCH_PLOT_BARS, "proactor_ratio",
     "echo, 100 connections, 1 KiB: proactor over reactor (1 = equal)", "",
     "ratio", "proactor_echo: request-rate ratio to the reactor", 0, 0, 1,
     proactor_ratio_bars, BENCH_COUNT(proactor_ratio_bars)},
};
static const bench_table proactor_tables[] = {
    {"echo, 100 connections, 1 KiB, closed loop: requests/s by model",
     "mode=closed conc=100 bytes=1024", "engine", "rps"},
    {"echo, 100 connections, 1 KiB: p50 latency (µs) by model",
     "mode=closed conc=100 bytes=1024", "engine", "p50_us"},
    {"echo, 100 connections, 1 KiB: p99 latency (µs) by model",
     "mode=closed conc=100 bytes=1024", "engine", "p99_us"},
    {"echo, 100 connections, 1 KiB: server system calls per request",
     "mode=closed conc=100 bytes=1024", "engine", "syscalls_per_req"},
    {"echo, 100 connections, 1 KiB: loop waits per request (untraced)",
     "mode=closed conc=100 bytes=1024", "engine", "waits_per_req"},
    {"echo, 100 connections, 1 KiB: server thread's kernel CPU µs per request",
     "mode=closed conc=100 bytes=1024", "engine", "sys_us_per_req"},
    {"echo, 100 connections, 1 KiB: server thread's user CPU µs per request",
     "mode=closed conc=100 bytes=1024", "engine", "user_us_per_req"},
    {"echo, 100 connections, 1 KiB: load generator's CPU µs per request",
     "mode=closed conc=100 bytes=1024", "engine", "loadgen_us_per_req"},
    {"proactor over reactor, same implementation (request-rate ratio)",
     "mode=closed conc=100 bytes=1024", NULL,
     "uring_over_reactor emulated_over_reactor"},
    {"io_uring proactor over reactor by connections (1 KiB)",
     "mode=closed bytes=1024", "conc", "uring_over_reactor"},
    {"io_uring proactor over reactor by message size (100 connections)",
     "mode=closed conc=100", "bytes", "uring_over_reactor"},
    {"emulated proactor over reactor by message size (100 connections)",
     "mode=closed conc=100", "bytes", "emulated_over_reactor"},
    {"server thread's kernel CPU µs per request by message size, io_uring "
     "proactor (100 connections)",
     "mode=closed conc=100 engine=io_uring", "bytes", "sys_us_per_req"},
    {"server thread's kernel CPU µs per request by message size, reactor "
     "(100 connections)",
     "mode=closed conc=100 engine=readiness", "bytes", "sys_us_per_req"},
    {"constant rate, 100 connections, 1 KiB: p99 (µs) by model",
     "mode=rate conc=100 bytes=1024", "engine", "p99_us"},
    {"constant rate, 1 KiB: io_uring proactor's p99 (µs) by connections",
     "mode=rate bytes=1024 engine=io_uring", "conc", "p99_us"},
    {"constant rate, 1 KiB: reactor's p99 (µs) by connections",
     "mode=rate bytes=1024 engine=readiness", "conc", "p99_us"},
};
const bench_section bench_section_proactor_echo = {
    "proactor_echo: reactor or proactor, and on which backend",
    "The echo server in both models on every implementation against the one "
    "load generator (pinned to the other CPU): a reader per connection doing "
    "recv and send (reactor, engine \"readiness\"), and evl_recv / evl_send "
    "completions (proactor), emulated over the loop's readiness or on the "
    "io_uring engine (which shares ref-iouring's ring, and has a ring of its "
    "own elsewhere). Records carry a top-level \"model\". Rounds interleave "
    "the models; the ratios are per round. System calls per request are the "
    "server thread's, counted by strace -c in a separate 0.2 s run, once per "
    "configuration (tracing slows every call, so it is never a timed run; "
    "connection setup is included); waits per request are the loop's "
    "backend waits (one epoll_wait or io_uring_enter each) in the timed "
    "runs. CPU µs per request (getrusage) split the time between the server "
    "thread's user space and kernel and the load generator; unlike "
    "requests/s they hardly move with the machine's load. The reactor reads "
    "every connection into one shared 64 KiB buffer, which stays in cache; "
    "a proactor cannot share one (its recvs are in flight together), so "
    "each connection has its own, and at 100 KiB messages that costs the "
    "proactors (both engines alike) their deficit: with EVL_PE_OWNBUF=1 the "
    "reactor reads into per-connection buffers too and the ratio is about "
    "1. The quick profile runs 100 connections of 1 KiB, closed loop; "
    "PROFILE=full runs 10, 100 and 1000 connections by 1, 10 and 100 KiB "
    "closed loop, and constant rate at 10, 100 and 1000 connections of "
    "1 KiB and 100 connections of 10 and 100 KiB, each configuration in "
    "about three of the rounds.",
    proactor_plots,
    BENCH_COUNT(proactor_plots),
    proactor_tables,
    BENCH_COUNT(proactor_tables)};

/* pingpong in both models: one connection, one message in flight, so what
 * is compared is the latency of a round trip through each model's path. */
static const bench_panel pp_bars[] = {
    {"reactor", "round_trips", "engine=readiness", NULL},
    {"proactor, emulated", "round_trips", "engine=emulated", NULL},
    {"proactor, io_uring", "round_trips", "engine=io_uring", NULL},
};
static const bench_plot pp_plots[] = {
    {BENCH_PLOT_BARS, "proactor_pingpong",
     "pingpong, one connection, 5 bytes: reactor or proactor", "",
     "round trips/s",
     "proactor_pingpong: round trips per second by model, per implementation",
     0, 0, 1, pp_bars, BENCH_COUNT(pp_bars)},
};
static const bench_table pp_tables[] = {
    {"pingpong: round trips per second by model", "", "engine", "round_trips"},
    {"pingpong: loop-thread system calls per round trip (both ends)", "",
     "engine", "syscalls_per_trip"},
    {"pingpong: proactor over reactor, same implementation (per round)", "",
     NULL, "uring_over_reactor emulated_over_reactor"},
};
const bench_section bench_section_proactor_pingpong = {
    "proactor_pingpong: reactor or proactor, one message in flight",
    "pingpong's shape in both models: one TCP loopback connection, both "
    "ends on the loop under test, one 5-byte message in flight, so a round "
    "trip is pure latency through each model's path. The reactor is "
    "pingpong's kernel (a reader on each end doing recv and send, engine "
    "\"readiness\"); the proactor's server receives, sends back and "
    "receives again with evl_recv / evl_send (as proactor_echo's), its "
    "client keeps a recv posted and sends the next ping on each whole "
    "reply. Emulated over readiness on every implementation; on the "
    "io_uring engine where the loop's backend lends it its ring "
    "(ref-iouring: one io_uring_enter per iteration). Rounds interleave the "
    "models; ratios are per round. System calls per round trip are the "
    "loop thread's (both ends), counted by strace -c over a fixed number "
    "of trips in a run of their own, setup excluded.",
    pp_plots,
    BENCH_COUNT(pp_plots),
    pp_tables,
    BENCH_COUNT(pp_tables)};
