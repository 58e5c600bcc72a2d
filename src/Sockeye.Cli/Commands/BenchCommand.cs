using System.CommandLine;
using Sockeye.Bench;

namespace Sockeye.Cli.Commands;

/// <summary><c>sockeye bench echo|idle|churn|udp|fanout</c>: a load generator for any TCP (or UDP) echo server,
/// and for chat servers that speak docs/CHAT.md (fanout).</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Load-test a TCP or UDP echo server (Sockeye's or anyone's) and report throughput, latency, CPU and memory.");
        bench.Subcommands.Add(Create(BenchMode.Echo, "Round trips over long-lived connections: throughput, latency percentiles, CPU per round trip.", connections: 100));
        bench.Subcommands.Add(Create(BenchMode.Idle, "Hold N idle connections, prove them alive before and after; with --server-pid, the server's bytes per connection.", connections: 10_000));
        bench.Subcommands.Add(Create(BenchMode.Churn, "Short connections (connect, one round trip, close) as fast as the server takes them.", connections: 50));
        bench.Subcommands.Add(UdpBenchCommand.Create());
        bench.Subcommands.Add(CreateFanout());
        return bench;
    }

    /// <summary>The longest message text <c>bench fanout</c> sends: with <c>MSG room&lt;r&gt; </c> and the
    /// newline it stays inside the protocol's 4096-byte line.</summary>
    public const int MaxFanoutSize = 4000;

    /// <summary><c>bench fanout</c>: subscribers and publishers in chat rooms (docs/CHAT.md).</summary>
    private static Command CreateFanout()
    {
        var host = CliOptions.Host("Chat server address (an IP address)");
        var port = CliOptions.Port("Chat server port", 7000);
        var subscribers = CliOptions.AtLeast("--subscribers", 1, 1000, "Connections that join a room and receive (subscriber i joins room i % rooms)");
        var rooms = CliOptions.AtLeast("--rooms", 1, 1, "Rooms the subscribers and publishers are spread over");
        var publishers = CliOptions.AtLeast("--publishers", 1, 1, "Connections that join a room and send to it (publisher j joins room j % rooms)");
        var rate = new Option<double>("--rate") { Description = "Messages per second per publisher, open loop: latency counts from when a message was due", DefaultValueFactory = _ => 100 };
        var size = CliOptions.Size("--size", 64, "Bytes of message text (sequence number, timestamp, padding)");
        var duration = CliOptions.Duration("--duration", TimeSpan.FromSeconds(10), "Length of the measured window");
        var warmup = CliOptions.Duration("--warmup", TimeSpan.FromSeconds(2), "Publishing before the measured window, not counted");
        var sources = new Option<string?>("--source-ips") { Description = "Source addresses to spread connections over, e.g. 127.0.0.1-127.0.0.40" };
        var serverPid = ServerPidOption();
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on stdout" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No live progress on stderr" };

        var command = new Command("fanout", "Chat rooms (docs/CHAT.md): publishers send at a fixed rate to rooms of subscribers; deliveries/s, lost deliveries, delivery latency, slow-consumer drops, server CPU per delivery.")
        {
            host, port, subscribers, rooms, publishers, rate, size, duration, warmup, sources, serverPid, json, quiet,
        };
        host.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string>();
            if (!System.Net.IPAddress.TryParse(value, out _))
            {
                r.AddError($"--host must be an IP address, got '{value}'");
            }
        });
        rate.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<double>();
            if (!(value > 0) || double.IsInfinity(value))
            {
                r.AddError($"--rate must be a positive number of messages per second per publisher, got {value}");
            }
        });
        size.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<long>();
            if (value is < 1 or > MaxFanoutSize)
            {
                r.AddError($"--size must be between 1 and {MaxFanoutSize} bytes (the protocol's line limit is 4096), got {value}");
            }
        });
        duration.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<TimeSpan>() <= TimeSpan.Zero)
            {
                r.AddError("--duration must be longer than zero");
            }
        });
        ValidateSources(sources);
        command.Validators.Add(r =>
        {
            // An option not given has no result yet here, and GetValue would answer 0, not its default.
            var s = r.GetResult(subscribers) is null ? 1000 : r.GetValue(subscribers);
            var n = r.GetResult(rooms) is null ? 1 : r.GetValue(rooms);
            if (s >= 1 && n > s) // Below 1, the option's own error says so.
            {
                r.AddError($"--rooms {n} is more than --subscribers {s}: every room needs at least one subscriber");
            }
        });

        command.SetAction(async (parse, cancellationToken) =>
        {
            var parsedSources = ParseSources(parse, sources);

            var settings = new BenchSettings
            {
                Mode = BenchMode.Fanout,
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                Subscribers = parse.GetValue(subscribers),
                Rooms = parse.GetValue(rooms),
                Publishers = parse.GetValue(publishers),
                Connections = parse.GetValue(subscribers) + parse.GetValue(publishers),
                Rate = parse.GetValue(rate),
                Size = (int)parse.GetValue(size),
                Duration = parse.GetValue(duration),
                Warmup = parse.GetValue(warmup),
                SourceAddresses = parsedSources,
                SourceAddressesText = parse.GetValue(sources),
                ServerPid = parse.GetValue(serverPid),
                Json = parse.GetValue(json),
                Quiet = parse.GetValue(quiet),
            };
            return await RunAsync(settings, cancellationToken);
        });
        return command;
    }

    private static Command Create(BenchMode mode, string description, int connections)
    {
        var host = CliOptions.Host("Server address (an IP address)");
        var port = CliOptions.Port("Server port", 7000);
        var unix = new Option<string?>("--unix") { Description = "Connect to this Unix socket path instead of --host/--port" };
        var count = CliOptions.AtLeast("--connections", 1, connections,
            mode == BenchMode.Churn ? "Short connections in flight at once" : "Connections to open and hold");
        var size = CliOptions.Size("--size", 64, "Bytes per message");
        var duration = CliOptions.Duration("--duration", TimeSpan.FromSeconds(10),
            mode == BenchMode.Idle ? "How long to hold the connections" : "Length of the measured window");
        var warmup = CliOptions.Duration("--warmup", TimeSpan.FromSeconds(2), "Load before the measured window, not counted");
        var depth = CliOptions.AtLeast("--depth", 1, 1, "Messages sent back to back before waiting for their echoes (pipelining)");
        var rate = new Option<double>("--rate") { Description = "Open loop: round trips per second over all connections, latencies corrected for coordinated omission (default: closed loop)" };
        var requests = new Option<long>("--requests") { Description = "Stop after this many measured round trips (default: run for --duration)" };
        var sources = new Option<string?>("--source-ips") { Description = "Source addresses to spread connections over, e.g. 127.0.0.1-127.0.0.40 (one address runs out of ports near 28,000 connections)" };
        var processes = CliOptions.AtLeast("--processes", 1, 1, "Child processes to spread connections over (each may hold 20,000 descriptors here); one merged report");
        var serverPid = ServerPidOption();
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on stdout" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No live progress on stderr" };
        var reset = new Option<bool>("--reset") { Description = "Close short connections with RST instead of FIN (no TIME_WAIT on the client)" };
        var tls = new Option<bool>("--tls") { Description = "Connect over TLS (SslStream). Any server certificate is accepted: a load tool measures, it does not authenticate" };
        var tlsSni = new Option<string?>("--tls-sni") { Description = "Server name to send in the TLS handshake (SNI); default: none. Implies --tls" };
        var child = new Option<bool>(LoadGenerator.ChildOption) { Hidden = true };
        var linger = CliOptions.Duration("--linger", TimeSpan.Zero,
            "After the final proof and the result, keep the connections open until the server closes them or this long passes (to time a server's drain of held connections; default 0: close at once)");
        var ioEngine = new Option<IoEngine>("--io-engine")
        {
            Description = "What holds the connections: epoll (bare descriptors on the bench's own epoll loop, a few bytes each; Linux, plain TCP), sockets (a .NET Socket each, ~3 KB) or default (epoll where it can)",
            DefaultValueFactory = _ => IoEngine.Default,
        };

        var command = new Command(mode.ToString().ToLowerInvariant(), description)
        {
            host, port, unix, count, size, duration, json, sources, processes, serverPid, quiet, tls, tlsSni, child,
        };
        if (mode != BenchMode.Idle)
        {
            command.Options.Add(warmup);
        }

        if (mode == BenchMode.Echo)
        {
            command.Options.Add(depth);
            command.Options.Add(rate);
            command.Options.Add(requests);
        }

        if (mode == BenchMode.Churn)
        {
            command.Options.Add(reset);
        }

        if (mode == BenchMode.Idle)
        {
            command.Options.Add(ioEngine);
            command.Options.Add(linger);
            command.Validators.Add(r =>
            {
                // Read from the token: for a value that is not an engine's name, GetValue would throw
                // here, before the option's own error is reported.
                var engine = IoEngine.Default;
                if (r.GetResult(ioEngine) is { Tokens: [var token, ..] } && !Enum.TryParse(token.Value, ignoreCase: true, out engine))
                {
                    return;
                }

                if (BenchSettings.IdleEngineProblem(engine, r.GetValue(tls) || r.GetValue(tlsSni) is not null, r.GetValue(unix) is not null) is { } problem)
                {
                    r.AddError(problem);
                }
            });
        }

        size.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<long>();
            if (value is < 1 or > 16 * 1024 * 1024)
            {
                r.AddError($"--size must be between 1 byte and 16MiB, got {value}");
            }
        });
        duration.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<TimeSpan>() <= TimeSpan.Zero)
            {
                r.AddError("--duration must be longer than zero");
            }
        });
        rate.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<double>();
            if (value < 0 || double.IsNaN(value) || double.IsInfinity(value))
            {
                r.AddError($"--rate must be a positive number of round trips per second, got {value}");
            }
        });
        requests.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<long>() < 0)
            {
                r.AddError("--requests must not be negative");
            }
        });
        ValidateSources(sources);
        host.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string>();
            if (!System.Net.IPAddress.TryParse(value, out _))
            {
                r.AddError($"--host must be an IP address, got '{value}'");
            }
        });
        command.Validators.Add(r =>
        {
            // An option not on the command line has no result yet when a command's validator runs, and
            // GetValue would answer 0 instead of its default.
            var n = r.GetResult(count) is null ? connections : r.GetValue(count);
            var p = r.GetValue(processes);
            if (n >= 1 && p > n)
            {
                r.AddError($"--processes {p} is more than --connections {n}: every process needs at least one connection");
            }
        });

        command.SetAction(async (parse, cancellationToken) =>
        {
            var parsedSources = ParseSources(parse, sources);

            var settings = new BenchSettings
            {
                Mode = mode,
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                UnixPath = parse.GetValue(unix),
                Connections = parse.GetValue(count),
                Size = (int)parse.GetValue(size),
                Duration = parse.GetValue(duration),
                Warmup = mode == BenchMode.Idle ? TimeSpan.Zero : parse.GetValue(warmup),
                Depth = mode == BenchMode.Echo ? parse.GetValue(depth) : 1,
                Rate = mode == BenchMode.Echo ? parse.GetValue(rate) : 0,
                Requests = mode == BenchMode.Echo ? parse.GetValue(requests) : 0,
                SourceAddresses = parsedSources,
                SourceAddressesText = parse.GetValue(sources),
                Processes = parse.GetValue(processes),
                ServerPid = parse.GetValue(serverPid),
                Json = parse.GetValue(json),
                Quiet = parse.GetValue(quiet) || parse.GetValue(child),
                Reset = mode == BenchMode.Churn && parse.GetValue(reset),
                Child = parse.GetValue(child),
                Tls = parse.GetValue(tls) || parse.GetValue(tlsSni) is not null,
                TlsServerName = parse.GetValue(tlsSni),
                IoEngine = mode == BenchMode.Idle ? parse.GetValue(ioEngine) : IoEngine.Default,
                Linger = mode == BenchMode.Idle ? parse.GetValue(linger) : TimeSpan.Zero,
            };
            return await RunAsync(settings, cancellationToken);
        });
        return command;
    }

    /// <summary><c>--server-pid</c>, shared by every bench verb: the server to charge CPU (and, idle, memory) to.</summary>
    public static Option<int?> ServerPidOption()
    {
        var serverPid = new Option<int?>("--server-pid") { Description = "The server's process id: report its CPU per operation and (idle) its memory per connection" };
        serverPid.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is { } pid && !ProcessStats.Exists(pid))
            {
                r.AddError($"--server-pid {pid}: no such process (or /proc is not readable)");
            }
        });
        return serverPid;
    }

    /// <summary>Runs the benchmark in Sockeye.Bench, after the socket engine is set up for a client
    /// that must cost less than the servers it drives.</summary>
    public static Task<int> RunAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        SocketEngine.UseInlineCompletions();
        return LoadGenerator.RunAsync(settings, cancellationToken);
    }

    /// <summary>Refuses a <c>--source-ips</c> value that is not a list or range of addresses (one line naming it).</summary>
    private static void ValidateSources(Option<string?> sources) => sources.Validators.Add(r =>
    {
        if (r.GetValueOrDefault<string?>() is { } text && !SourceAddresses.TryParse(text, out _, out var error))
        {
            r.AddError($"--source-ips: {error}");
        }
    });

    /// <summary>The parsed <c>--source-ips</c>, or null when not given (its validator already refused a bad one).</summary>
    private static SourceAddresses? ParseSources(ParseResult parse, Option<string?> sources) =>
        parse.GetValue(sources) is not { } text ? null
        : SourceAddresses.TryParse(text, out var parsed, out var error) ? parsed
        : throw new InvalidOperationException(error);
}
