using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;

namespace Sockeye.Cli.Commands.Supervision;

/// <summary>The two ends of <c>--processes</c>: the supervisor's start, and a worker's watch on its supervisor.</summary>
internal static class SuperviseRunner
{
    // Options the supervisor decides for its workers rather than passing on.
    private static readonly HashSet<string> OwnOptions = ["--processes", "--port", "-p", "--share-port", "--metrics-port", ScaleOptions.SupervisedOption];

    /// <summary>Claims the port, then runs <paramref name="workers"/> workers of the command in
    /// <paramref name="parse"/> under a <see cref="Supervisor"/>; returns the exit status.</summary>
    public static async Task<int> RunAsync(ParseResult parse, int workers, TcpServerOptions options, TimeSpan drainTimeout, ObservabilityOptions watch)
    {
        using var loggerFactory = watch.CreateLoggerFactory(parse);
        // SIGHUP goes on to the workers, which reload their certificates (a later issue gives it its
        // rolling-restart meaning here); registered first, so that it never takes its default action (exit).
        var logger = loggerFactory.CreateLogger("Sockeye.Supervisor");
        Supervisor? supervising = null;
        var (signal, registration) = ServeRunner.WaitForSignals(logger, () => Volatile.Read(ref supervising) is { } s ? s.ForwardReload() : "no worker started yet; they read their certificates as they start");
        using (registration)
        {
            IPEndPoint endPoint;
            try
            {
                endPoint = await ClaimPortAsync(options).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                await Console.Error.WriteLineAsync($"sockeye: error: {ex.Message}").ConfigureAwait(false);
                return 1;
            }

            var metricsPort = parse.GetValue(watch.MetricsPort);
            if (metricsPort + workers - 1 > IPEndPoint.MaxPort)
            {
                await Console.Error.WriteLineAsync($"sockeye: error: --metrics-port {metricsPort} leaves no room for {workers} workers (worker i uses port {metricsPort} + i - 1)").ConfigureAwait(false);
                return Program.UsageError;
            }

            using var supervisor = new Supervisor(workers, slot => WorkerArguments(parse.Tokens, endPoint.Port, slot, metricsPort), endPoint, drainTimeout, logger)
            {
                WatchCommand = metricsPort is { } first ? TopCommandFor(parse.GetValue(watch.MetricsHost)!, first, workers) : null,
            };
            Volatile.Write(ref supervising, supervisor);
            return await supervisor.RunAsync(signal).ConfigureAwait(false);
        }
    }

    /// <summary>The <c>sockeye top</c> command that watches all <paramref name="workers"/> workers whose
    /// metrics are on <paramref name="host"/>, ports <paramref name="metricsPort"/> onwards; a wildcard
    /// host is watched over loopback.</summary>
    public static string TopCommandFor(string host, int metricsPort, int workers)
    {
        var target = host switch
        {
            "0.0.0.0" or "*" => "127.0.0.1",
            "::" => "[::1]",
            _ when host.Contains(':', StringComparison.Ordinal) => $"[{host}]",
            _ => host,
        };
        return $"sockeye top --url http://{target}:{metricsPort.ToString(CultureInfo.InvariantCulture)}/metrics --workers {workers.ToString(CultureInfo.InvariantCulture)}";
    }

    /// <summary>
    /// Makes sure the port is free for the workers (unless sharing was asked for) and turns port 0 into
    /// a real one, by starting and stopping a one-acceptor server that does not share: the library's own
    /// check, with its error naming the port. Another server could still take the port in the moment
    /// between this check and the workers' binds; a worker then fails its start and is restarted.
    /// </summary>
    private static async Task<IPEndPoint> ClaimPortAsync(TcpServerOptions options)
    {
        if (options.SharePort && options.EndPoint.Port != 0)
        {
            return options.EndPoint;
        }

        await using var probe = new TcpServer(new TcpServerOptions { EndPoint = options.EndPoint, AcceptorCount = 1 });
        await probe.StartAsync(_ => Task.CompletedTask).ConfigureAwait(false);
        return probe.LocalEndPoint!;
    }

    /// <summary>The supervisor's own command line for worker <paramref name="slot"/> (1-based): the same
    /// command and options, on the claimed <paramref name="port"/>, sharing it, supervised, without
    /// <c>--processes</c>. With <c>--metrics-port M</c> each worker serves its own metrics on M + slot − 1
    /// (<c>sockeye top --workers N</c> adds them up).</summary>
    public static List<string> WorkerArguments(IReadOnlyList<Token> tokens, int port, int slot, int? metricsPort)
    {
        var arguments = new List<string>();
        var skippingValues = false;
        var started = false;
        foreach (var token in tokens)
        {
            // The root command's own token, if the parser lists it, is not an argument.
            started |= token.Type == TokenType.Command && token.Value == "serve";
            if (!started)
            {
                continue;
            }

            if (token.Type == TokenType.Option)
            {
                skippingValues = OwnOptions.Contains(token.Value);
            }
            else if (token.Type != TokenType.Argument)
            {
                skippingValues = false;
            }

            if (!skippingValues)
            {
                arguments.Add(token.Value);
            }
        }

        arguments.AddRange(["--port", port.ToString(CultureInfo.InvariantCulture), "--share-port", ScaleOptions.SupervisedOption]);
        if (metricsPort is { } metrics)
        {
            arguments.AddRange(["--metrics-port", (metrics + slot - 1).ToString(CultureInfo.InvariantCulture)]);
        }

        return arguments;
    }

    /// <summary>
    /// In a worker: when the supervisor's end of our stdin closes (it exited, or was killed), drain and exit
    /// as on SIGTERM, so that no worker outlives its supervisor.
    /// </summary>
    public static void StopWhenSupervisorGoes()
    {
        var watcher = new Thread(() =>
        {
            using var input = Console.OpenStandardInput();
            var buffer = new byte[64];
            while (input.Read(buffer) > 0)
            {
            }

            Signals.Send(Environment.ProcessId, Signals.SigTerm);
        })
        {
            IsBackground = true,
            Name = "supervisor watch",
        };
        watcher.Start();
    }
}
