using System.Runtime.InteropServices;
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
    private static readonly HashSet<string> OwnOptions = ["--processes", "--port", "-p", "--share-port", "--acceptors", "--metrics-port",
        ScaleOptions.SupervisedOption, ScaleOptions.ListenFdOption, ScaleOptions.ReadyTimeoutOption, ScaleOptions.UpgradeReadyFdOption];

    // Options a new supervisor (a binary upgrade) is given afresh: the rest of the command line is kept.
    private static readonly HashSet<string> UpgradeOptions = [ScaleOptions.ListenFdOption, ScaleOptions.UpgradeReadyFdOption];

    /// <summary>Binds the port (or adopts the socket given), then runs <paramref name="workers"/> workers of the command in
    /// <paramref name="parse"/> under a <see cref="Supervisor"/>; returns the exit status.</summary>
    public static async Task<int> RunAsync(ParseResult parse, int workers, TcpServerOptions options, TimeSpan drainTimeout, ObservabilityOptions watch, ScaleOptions scale)
    {
        using var loggerFactory = watch.CreateLoggerFactory(parse);
        // SIGHUP replaces the workers one at a time (a rolling restart); registered first, so that it never
        // takes its default action (exit).
        var logger = loggerFactory.CreateLogger("Sockeye.Supervisor");
        Supervisor? supervising = null;
        var (signal, registration) = ServeRunner.WaitForSignals(logger, () => Volatile.Read(ref supervising) is { } s ? s.RequestRollingRestart() : "no worker started yet; nothing to restart");
        using (registration)
        {
            SharedListener listener;
            try
            {
                listener = SharedListener.Open(options);
            }
            catch (IOException ex)
            {
                await Console.Error.WriteLineAsync($"sockeye: error: {ex.Message}").ConfigureAwait(false);
                return 1;
            }

            using var listening = listener;
            var metricsPort = parse.GetValue(watch.MetricsPort);
            if (metricsPort + workers - 1 > IPEndPoint.MaxPort)
            {
                await Console.Error.WriteLineAsync($"sockeye: error: --metrics-port {metricsPort} leaves no room for {workers} workers (worker i uses port {metricsPort} + i - 1)").ConfigureAwait(false);
                return Program.UsageError;
            }

            using var supervisor = new Supervisor(workers, slot => WorkerArguments(parse.Tokens, listener.Fd, slot, metricsPort), listener.EndPoint, drainTimeout, logger)
            {
                ReadyTimeout = parse.GetValue(scale.ReadyTimeout),
                ReadyFd = parse.GetValue(scale.UpgradeReadyFd),
                UpgradeArguments = readyFd => UpgradeArguments(parse.Tokens, listener.Fd, readyFd),
                WatchCommand = metricsPort is { } first ? TopCommandFor(parse.GetValue(watch.MetricsHost)!, first, workers) : null,
            };
            Volatile.Write(ref supervising, supervisor);

            // SIGUSR2: the binary upgrade (12 on Linux; .NET takes a raw signal number cast to PosixSignal).
            using var upgrade = PosixSignalRegistration.Create((PosixSignal)Signals.SigUsr2, context =>
            {
                context.Cancel = true;
                SupervisorLog.Sigusr2Handled(logger, Environment.ProcessId, supervisor.RequestUpgrade());
            });
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

    /// <summary>The supervisor's own command line for worker <paramref name="slot"/> (1-based): the same
    /// command and options, accepting on the supervisor's listening socket (inherited as descriptor
    /// <paramref name="listenFd"/>), supervised, without <c>--processes</c>. With <c>--metrics-port M</c> each worker serves its own metrics on M + slot − 1
    /// (<c>sockeye top --workers N</c> adds them up).</summary>
    public static List<string> WorkerArguments(IReadOnlyList<Token> tokens, int listenFd, int slot, int? metricsPort)
    {
        var arguments = CommandTokens(tokens, OwnOptions);
        arguments.AddRange([ScaleOptions.ListenFdOption, listenFd.ToString(CultureInfo.InvariantCulture), ScaleOptions.SupervisedOption]);
        if (metricsPort is { } metrics)
        {
            arguments.AddRange(["--metrics-port", (metrics + slot - 1).ToString(CultureInfo.InvariantCulture)]);
        }

        return arguments;
    }

    /// <summary>A new supervisor's command line for a binary upgrade: this one's, on the inherited socket
    /// <paramref name="listenFd"/>, reporting ready on the pipe <paramref name="readyFd"/>.</summary>
    public static List<string> UpgradeArguments(IReadOnlyList<Token> tokens, int listenFd, int readyFd)
    {
        var arguments = CommandTokens(tokens, UpgradeOptions);
        arguments.AddRange([ScaleOptions.ListenFdOption, listenFd.ToString(CultureInfo.InvariantCulture),
            ScaleOptions.UpgradeReadyFdOption, readyFd.ToString(CultureInfo.InvariantCulture)]);
        return arguments;
    }

    /// <summary>The command's tokens from <c>serve</c> on, without the options in <paramref name="skip"/> and their values.</summary>
    private static List<string> CommandTokens(IReadOnlyList<Token> tokens, HashSet<string> skip)
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
                skippingValues = skip.Contains(token.Value);
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
