using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;
using Sockeye.Handlers;

namespace Sockeye.Cli.Commands;

/// <summary><c>sockeye serve ...</c>: runs one of the built-in servers until SIGTERM or Ctrl-C, then drains.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var serve = new Command("serve", "Run a built-in server until SIGTERM or Ctrl-C, then drain gracefully.");
        serve.Subcommands.Add(CreateTcp(chat: false));
        serve.Subcommands.Add(CreateTcp(chat: true));
        serve.Subcommands.Add(ServeUdpEchoCommand.Create());
        ServeConfigCommand.AddTo(serve);
        return serve;
    }

    /// <summary><c>serve echo</c> or <c>serve chat</c>: the same TCP server options, a different handler.</summary>
    private static Command CreateTcp(bool chat)
    {
        var host = CliOptions.Host("Address to listen on (an IP address; 0.0.0.0 or :: for all interfaces)");
        var port = CliOptions.Port("Port to listen on (0 picks a free one; the chosen port is printed)", 7000);
        var maxConnections = CliOptions.AtLeast("--max-connections", 1, 10_000, "Most connections held at once; more are refused and counted");
        var descriptorReserve = CliOptions.AtLeast("--descriptor-reserve", 0, 64, "File descriptors kept free for the runtime; connections that would take them are refused");
        var drainTimeout = CliOptions.Duration("--drain-timeout", TimeSpan.FromSeconds(10), "On SIGTERM, how long handlers get to finish before their connections are aborted");
        var unix = new Option<string?>("--unix") { Description = "Listen on this Unix domain socket path instead of TCP (a stale file from a crashed run is replaced; the file is removed on exit)" };
        var unixMode = new Option<string?>("--unix-permissions") { Description = "Octal permissions for the --unix socket file, such as 600 or 660 (default: from the umask)" };
        unixMode.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string?>();
            if (value is not null && !TryParseMode(value, out _))
            {
                r.AddError($"--unix-permissions must be octal permissions such as 600 or 660, got '{value}'");
            }
        });
        var statsInterval = CliOptions.Duration("--stats-interval", TimeSpan.Zero, "Print a line of counters, GC heap, RSS and open descriptors on stdout this often");

        var inline = new Option<bool>("--inline-completions")
        {
            Description = "Run socket completions on the epoll threads instead of the thread pool: less CPU per request; right for handlers that never block (the built-in ones)",
            DefaultValueFactory = _ => true,
        };
        var tlsInline = new Option<bool?>("--tls-start-inline")
        {
            Description = "With --inline-completions, also start TLS connections' handshakes on the accept thread (one thread hand-off fewer per connection; a handshake's crypto then delays the next accept on that thread)",
        };
        var ioEngine = new Option<IoEngine>("--io-engine")
        {
            Description = "What waits for the connections' sockets: epoll (Sockeye's own loop, least memory; Linux), sockets (.NET's engine) or default (epoll where it runs)",
            DefaultValueFactory = _ => IoEngine.Default,
        };
        var pollThreads = new Option<int>("--poll-threads")
        {
            Description = "Epoll poll threads for the connections (0: the engine's choice, one per core with inline completions; 1 runs every handler on one thread)",
            DefaultValueFactory = _ => 0,
        };
        pollThreads.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<int>();
            if (value is < 0 or > Transport.Epoll.PollerGroup.MaxPollers)
            {
                r.AddError($"--poll-threads must be between 0 (the engine's choice) and {Transport.Epoll.PollerGroup.MaxPollers}, got {value}");
            }
        });
        var framing = EchoFraming.FramingOption();
        var maxFrameSize = EchoFraming.MaxFrameSizeOption();

        var echo = chat
            ? new Command("chat", "A chat server (rooms, NICK/JOIN/PART/MSG/QUIT lines; docs/CHAT.md): every MSG is broadcast to the room's other members.")
            {
                host, port, maxConnections, descriptorReserve, drainTimeout, unix, unixMode, inline, tlsInline, ioEngine, pollThreads, statsInterval,
            }
            : new Command("echo", "Echo every byte back to the sender (RFC 862), or every whole frame with --framing.")
            {
                host, port, maxConnections, descriptorReserve, drainTimeout, framing, maxFrameSize, unix, unixMode, inline, tlsInline, ioEngine, pollThreads, statsInterval,
            };
        var chatOptions = chat ? new ChatOptions() : null;
        chatOptions?.AddTo(echo);
        var timeouts = new TimeoutOptions();
        timeouts.AddTo(echo);
        var watch = new ObservabilityOptions();
        watch.AddTo(echo);
        var security = new SecurityOptions();
        security.AddTo(echo);
        var scale = new ScaleOptions();
        scale.AddTo(echo, unix);

        host.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string>();
            if (!IPAddress.TryParse(value, out _))
            {
                r.AddError($"--host must be an IP address, got '{value}'");
            }
        });

        echo.SetAction((parse, _) =>
        {
            SocketEngine.UseInlineCompletions(parse.GetValue(inline));
            var options = new TcpServerOptions
            {
                EndPoint = new IPEndPoint(IPAddress.Parse(parse.GetValue(host)!), parse.GetValue(port)),
                MaxConnections = parse.GetValue(maxConnections),
                DescriptorReserve = parse.GetValue(descriptorReserve),
                UnixSocketPath = parse.GetValue(unix),
                UnixSocketPermissions = parse.GetValue(unixMode) is { } mode && TryParseMode(mode, out var parsed) ? parsed : null,
            };
            timeouts.Apply(parse, options);
            watch.Apply(parse, options);
            security.Apply(parse, options);
            scale.Apply(parse, options);

            // The built-in handlers go straight to I/O, so with inline completions they also start on
            // the accept loop's thread, but not behind a TLS handshake unless asked (--tls-start-inline):
            // its first step computes ~250 µs before it awaits, delaying the next accept on that thread;
            // measured it saved the pool hand-off but no CPU beyond the noise, and its p99 connection time
            // was worse in 4 of 6 loaded rounds (BENCHMARKS.md, "TLS, fourth run").
            options.StartHandlersInline = parse.GetValue(inline) && (options.Tls is null || parse.GetValue(tlsInline) == true);
            options.InlineCompletions = parse.GetValue(inline);
            options.IoEngine = parse.GetValue(ioEngine);
            options.PollThreads = parse.GetValue(pollThreads);
            if (chatOptions is not null)
            {
                options.SendQueue = chatOptions.SendQueue(parse);

                // The chat handler keeps a partial line in the reader, so the reader must hold the
                // longest line: past --max-read-buffer it would reset the client before the line limit
                // answered "ERR line too long".
                var lineBuffer = Chat.ChatHandler.MinReadBufferSize(chatOptions.MaxLine(parse));
                if (options.MaxReadBufferSize < lineBuffer)
                {
                    options.MaxReadBufferSize = lineBuffer;
                }
            }

            if (options.UnixSocketPath is null && ScaleOptions.UseActivatedSocket(options) is { } activationError)
            {
                Console.Error.WriteLine($"sockeye: error: {activationError}");
                return Task.FromResult(Program.UsageError);
            }

            if (scale.WorkerCount(parse) is { } workers)
            {
                return Supervision.SuperviseRunner.RunAsync(parse, workers, options, parse.GetValue(drainTimeout), watch, scale);
            }

            if (scale.IsSupervised(parse))
            {
                Supervision.SuperviseRunner.StopWhenSupervisorGoes();
            }

            if (chatOptions is not null)
            {
                return RunChatAsync(options, chatOptions, parse.GetValue(drainTimeout), parse.GetValue(statsInterval), parse, watch);
            }

            var handler = EchoFraming.Handler(parse.GetValue(framing)!, parse.GetValue(maxFrameSize));
            return RunAsync(options, handler, parse.GetValue(drainTimeout), parse.GetValue(statsInterval), parse, watch);
        });
        return echo;
    }

    private static bool TryParseMode(string text, out UnixFileMode mode)
    {
        mode = default;
        if (text.Length is < 1 or > 4 || text.Any(c => c is < '0' or > '7'))
        {
            return false;
        }

        mode = (UnixFileMode)Convert.ToInt32(text, 8);
        return true;
    }

    /// <summary>Runs the echo server until SIGTERM or SIGINT, then drains (<see cref="ServeRunner.RunAsync{TServer}"/>):
    /// SIGHUP reloads the TLS certificate files, as nginx and HAProxy do.</summary>
    private static Task<int> RunAsync(TcpServerOptions options, IConnectionHandler handler, TimeSpan drainTimeout, TimeSpan statsInterval, ParseResult parse, ObservabilityOptions watch) =>
        ServeRunner.RunAsync(parse, watch, drainTimeout, loggerFactory => Describe(options, server => server.StartAsync(handler), statsInterval, loggerFactory));

    /// <summary>Runs the chat server as <see cref="RunAsync"/> runs the echo server. With <c>--backplane</c>
    /// it connects first (waiting at most the connect timeout: a Redis that is down delays nothing
    /// more, the backplane keeps trying), reports the backplane on <c>/readyz</c>, and closes it after the drain.</summary>
    private static Task<int> RunChatAsync(TcpServerOptions options, ChatOptions chat, TimeSpan drainTimeout, TimeSpan statsInterval, ParseResult parse, ObservabilityOptions watch) =>
        ServeRunner.RunAsync(parse, watch, drainTimeout, loggerFactory =>
        {
            var rooms = chat.Rooms(parse, loggerFactory);
            var handler = new Chat.ChatHandler(rooms, chat.MaxLine(parse));
            var run = Describe(
                options,
                async server =>
                {
                    await rooms.Broadcaster.StartAsync();
                    await server.StartAsync(handler);
                },
                statsInterval,
                loggerFactory);
            return new ServeRun<TcpServer>
            {
                Create = run.Create,
                Start = run.Start,
                Listening = run.Listening,
                Reload = run.Reload,
                Stopped = run.Stopped,
                StatsLine = run.StatsLine,
                StatsInterval = run.StatsInterval,
                DescriptorReserve = run.DescriptorReserve,
                Readiness = chat.Readiness(parse, rooms),
                Owned = rooms,
            };
        });

    private static ServeRun<TcpServer> Describe(TcpServerOptions options, Func<TcpServer, Task> start, TimeSpan statsInterval, Microsoft.Extensions.Logging.ILoggerFactory loggerFactory)
    {
        options.LoggerFactory = loggerFactory;
        return new ServeRun<TcpServer>
        {
            Create = () => new TcpServer(options),
            Start = start,
            Listening = server => (server.LocalEndPoint is { } ip ? ip.ToString() : $"unix:{server.ListenEndPoint}")
                + (options.ListenFd is { } fd ? $" (descriptor {fd.ToString(System.Globalization.CultureInfo.InvariantCulture)})" : ""),
            Reload = server => ServeRunner.ReloadCertificates(server, options),
            Stopped = (_, summary) => $"{summary.Drained} drained, {summary.Aborted} aborted in {summary.Elapsed.TotalMilliseconds:F0} ms",
            StatsLine = StatsReporter.Line,
            StatsInterval = statsInterval,
            DescriptorReserve = options.DescriptorReserve,
        };
    }
}
