using Microsoft.Extensions.Logging;
using Sockeye.Cli.Observability;
using Sockeye.Server;

namespace Sockeye.Cli.Commands;

/// <summary>
/// What one <c>sockeye serve ...</c> server is, for <see cref="ServeRunner.RunAsync{TServer}"/>: how to
/// build and start it, what it prints, what SIGHUP reloads. The run itself (signals, the listening
/// line, the admin port, the drain and the exit code) is the same for TCP and UDP and lives there.
/// </summary>
/// <typeparam name="TServer">The server: <see cref="TcpServer"/> or <see cref="Udp.UdpServer"/>.</typeparam>
internal sealed class ServeRun<TServer>
    where TServer : class, IRunningServer
{
    /// <summary>Builds the server, its options already holding the run's logger factory.</summary>
    public required Func<TServer> Create { get; init; }

    /// <summary>Starts it with its handler; an <see cref="IOException"/> (address in use, ...) ends the run with exit code 1.</summary>
    public required Func<TServer, Task> Start { get; init; }

    /// <summary>What follows <c>sockeye: listening on </c> once it started (tests and scripts read the port from it).</summary>
    public required Func<TServer, string> Listening { get; init; }

    /// <summary>Reloads what SIGHUP reloads and says what it did; the server is null while it is not built yet.</summary>
    public required Func<TServer?, string> Reload { get; init; }

    /// <summary>What follows <c>sockeye: stopped: </c> after the drain.</summary>
    public required Func<TServer, ShutdownSummary, string> Stopped { get; init; }

    /// <summary>The <c>--stats-interval</c> line, or null for a server that has none.</summary>
    public Func<TServer, string>? StatsLine { get; init; }

    /// <summary>How often the stats line is printed (zero: never).</summary>
    public TimeSpan StatsInterval { get; init; }

    /// <summary>The descriptors the admin port leaves free, the data port's reserve.</summary>
    public int DescriptorReserve { get; init; } = new TcpServerOptions().DescriptorReserve;

    /// <summary>What else <c>/readyz</c> reports on besides the listener (the chat's backplane), or null.</summary>
    public Func<ReadinessLine>? Readiness { get; init; }

    /// <summary>Disposed when the run ends, after the drain (the chat's backplane connection), or null.</summary>
    public IAsyncDisposable? Owned { get; init; }

    /// <summary>The logger the run's own lines (SIGHUP) go to.</summary>
    internal static ILogger Logger(ILoggerFactory factory) => factory.CreateLogger("Sockeye.Serve");
}
